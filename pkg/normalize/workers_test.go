package normalize

import (
	"fmt"
	"strings"
	"testing"
)

func TestWorkersRunAndReraisePanics(t *testing.T) {
	w := startWorkers(2)
	ran := false
	w.do(taskFunc(func() { ran = true }))
	if !ran {
		t.Fatal("do returned before running fn")
	}

	func() {
		defer func() {
			v := recover()
			p, ok := v.(workerPanic)
			if !ok {
				t.Fatalf("panic value %#v, want a workerPanic", v)
			}
			// The DLQ's reason prints the value with %v; the Recoverer's log uses %#v.
			if got := fmt.Sprintf("%v", p); got != "mapping exploded" {
				t.Errorf("%%v = %q, want the original value", got)
			}
			if got := fmt.Sprintf("%#v", p); !strings.Contains(got, "mapping exploded") || !strings.Contains(got, "workers_test.go") {
				t.Errorf("%%#v = %q, want the value and the worker's stack", got)
			}
		}()
		w.do(taskFunc(func() { panic("mapping exploded") }))
	}()

	// A worker survives a panic, and after stop fn runs on the caller's goroutine.
	n := 0
	w.do(taskFunc(func() { n++ }))
	w.stop()
	w.do(taskFunc(func() { n++ }))
	if n != 2 {
		t.Fatalf("ran %d of 2 jobs", n)
	}
}
