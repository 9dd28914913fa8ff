// Package process runs chargeline's service binaries as real processes, the way an
// orchestrator would: Build compiles them with `go build`, Proc starts one with an environment
// in a process group of its own, keeps its stdout and stderr in a log file across starts,
// restarts it after an end nobody asked for (or leaves a one-shot process ended), and signals
// it: SIGKILL, SIGTERM, SIGSTOP/SIGCONT, and Stop's SIGTERM-then-SIGKILL that says how the
// process ended. WaitReady waits for a service's HTTP endpoint to answer 200.
//
// It is the one process-level harness: pkg/chaos runs the whole pipeline on it, and tests
// that signal a service binary (services/sink's SIGTERM test, deploy's probe) build and run
// it through it. Linux only: the children get Pdeathsig, so a harness that dies leaves none
// behind.
package process
