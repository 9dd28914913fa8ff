package service

import (
	"runtime/debug"
	"testing"
)

func TestDefaultGCPercentYieldsToGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	t.Setenv("GOGC", "")
	if got := DefaultGCPercent(400); got != 400 {
		t.Fatalf("without GOGC: %d, want 400", got)
	}
	if p := debug.SetGCPercent(100); p != 400 {
		t.Fatalf("without GOGC the collector runs at %d, want 400", p)
	}

	// The runtime read GOGC at start; the test sets what it would have read.
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	if got := DefaultGCPercent(400); got != 150 {
		t.Fatalf("with GOGC=150: %d, want 150", got)
	}
	if p := debug.SetGCPercent(100); p != 150 {
		t.Fatalf("with GOGC=150 the collector runs at %d, want 150", p)
	}
}
