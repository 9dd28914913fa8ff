package poll

import (
	"strconv"
	"testing"
)

// The queue keeps emit order across pops and compactions, frees settled entries, and does not
// grow past what is in flight at once.
func TestPipelineQueue(t *testing.T) {
	p := &pipeline{}
	pushed, popped := 0, 0
	push := func() {
		p.push(inflight{next: Checkpoint(strconv.Itoa(pushed))})
		pushed++
	}
	pop := func() {
		if got, want := p.queue[p.head].next, Checkpoint(strconv.Itoa(popped)); got != want {
			t.Fatalf("head is %q, want %q", got, want)
		}
		p.pop()
		popped++
	}
	const window = 100
	for range window {
		push()
	}
	// A few acks arrive, as many records follow: the queue slides.
	slide := func(rounds int) {
		for round := range rounds {
			for range 1 + round%7 {
				pop()
				push()
			}
		}
	}
	slide(100)
	array := &p.queue[:1][0]
	slide(1000)
	if p.pending() != window {
		t.Fatalf("%d pending, want %d", p.pending(), window)
	}
	if &p.queue[:1][0] != array {
		t.Errorf("queue reallocated while sliding with %d in flight (capacity %d)", window, cap(p.queue))
	}
	for _, e := range p.queue[:p.head] {
		if e != (inflight{}) {
			t.Fatalf("settled entry %+v kept", e)
		}
	}
	for p.pending() > 0 {
		pop()
	}
	if len(p.queue) != 0 || p.head != 0 {
		t.Errorf("empty queue is queue[%d:%d]", p.head, len(p.queue))
	}
}
