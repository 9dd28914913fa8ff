package normalize

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// workers run the mappings and schema checks on a few long-lived goroutines. The router handles
// every record on a goroutine of its own, which starts with a small stack; a provider's Map and
// the JSON Schema check decode JSON recursively and used to grow that fresh stack several times
// per record (runtime.copystack was a tenth of the normalizer's CPU in the `make bench` profile).
// A worker's stack grows once. The work is CPU-bound, so a worker per CPU keeps the CPUs busy
// while Concurrency still bounds the records in flight (waiting for PubAcks).
type workers struct {
	jobs  chan job
	quit  chan struct{}
	wg    sync.WaitGroup
	dones sync.Pool // chan *workerPanic, buffered 1, empty: one per do was an allocation per record
}

// task is a job's work: an interface rather than a func, so that the handler's state goes to
// the worker in one allocation (its mapping) instead of a closure and each variable it shares.
type task interface{ run() }

// taskFunc is a func as a task.
type taskFunc func()

func (f taskFunc) run() { f() }

type job struct {
	t    task
	done chan *workerPanic
}

func startWorkers(n int) *workers {
	w := &workers{jobs: make(chan job), quit: make(chan struct{})}
	w.dones.New = func() any { return make(chan *workerPanic, 1) }
	for range n {
		w.wg.Go(func() {
			for {
				select {
				case j := <-w.jobs:
					j.done <- run(j.t)
				case <-w.quit:
					return
				}
			}
		})
	}
	return w
}

// do runs t on a worker and returns when it has; a panic in t is raised again in the caller's
// goroutine, so the router's Recoverer (and the DLQ behind it) sees it as before. After stop (a
// handler outliving the router's close timeout) t runs on the caller's goroutine.
func (w *workers) do(t task) {
	done := w.dones.Get().(chan *workerPanic)
	select {
	case w.jobs <- job{t: t, done: done}:
	case <-w.quit:
		w.dones.Put(done)
		t.run()
		return
	}
	p := <-done
	w.dones.Put(done) // empty again: the worker sends once
	if p != nil {
		panic(*p)
	}
}

// stop ends the workers; a job a worker has taken is finished first.
func (w *workers) stop() {
	close(w.quit)
	w.wg.Wait()
}

func run(t task) (p *workerPanic) {
	defer func() {
		if v := recover(); v != nil {
			p = &workerPanic{v: v, stack: string(debug.Stack())}
		}
	}()
	t.run()
	return nil
}

// workerPanic is a panic raised on a worker and raised again in the handler. Printed with %v
// (the DLQ's reason) it is the original value; with %#v (the Recoverer's log line) it adds the
// worker's stack, where the panic happened.
type workerPanic struct {
	v     any
	stack string
}

func (p workerPanic) Error() string { return fmt.Sprint(p.v) }
func (p workerPanic) GoString() string {
	return fmt.Sprintf("%#v, on a mapping worker:\n%s", p.v, p.stack)
}
