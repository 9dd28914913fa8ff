package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is one child process under supervision: when it ends it is started again, the way an
// orchestrator restarts a crashed container, until Stop. An end the harness asked for (Kill,
// Term) is restarted after the delay the harness chose; an end nobody asked for counts as a
// crash and is restarted after a second. Methods are safe for concurrent use.
type proc struct {
	name    string
	bin     string
	args    []string
	env     []string // added to the harness's environment; later entries win
	logPath string   // stdout and stderr of every start, appended
	logf    func(format string, a ...any)

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process has been reaped
	started chan struct{} // closed at the next start; replaced at every start
	starts  int
	since   time.Time     // when the current process started
	asked   bool          // the current process's end was asked for
	delay   time.Duration // before the next start after an asked-for end
	stopped bool
	crashes []string // exit status of every end nobody asked for
	done    chan struct{}
}

func newProc(name, bin string, args, env []string, logPath string, logf func(string, ...any)) *proc {
	return &proc{name: name, bin: bin, args: args, env: env, logPath: logPath, logf: logf,
		started: make(chan struct{}), done: make(chan struct{})}
}

// run starts the process and supervises it in the background; it returns the first start's
// error, after which nothing runs.
func (p *proc) run() error {
	p.mu.Lock()
	err := p.startLocked()
	p.mu.Unlock()
	if err != nil {
		close(p.done)
		return err
	}
	go p.supervise()
	return nil
}

func (p *proc) startLocked() error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("chaos: %s log: %w", p.name, err)
	}
	fmt.Fprintf(logf, "=== chaos: start %d of %s at %s\n", p.starts+1, p.name, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a kill reaches nothing else; Pdeathsig, so a harness that dies
	// (Ctrl-C twice, a test timeout) leaves no child behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("chaos: start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	p.cmd, p.exited, p.since = cmd, exited, time.Now()
	p.starts++
	close(p.started)
	p.started = make(chan struct{})
	return nil
}

func (p *proc) supervise() {
	defer close(p.done)
	for {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		<-exited

		p.mu.Lock()
		asked, delay := p.asked, p.delay
		p.asked, p.delay = false, 0
		if !asked {
			p.crashes = append(p.crashes, p.cmd.ProcessState.String())
			delay = time.Second
		}
		stopped := p.stopped
		state := p.cmd.ProcessState.String()
		p.mu.Unlock()
		if stopped {
			return
		}
		if !asked {
			p.logf("%s ended on its own (%s); restarting it in %s (see %s)", p.name, state, delay, p.logPath)
		}
		time.Sleep(delay)
		for {
			p.mu.Lock()
			if p.stopped {
				p.mu.Unlock()
				return
			}
			err := p.startLocked()
			p.mu.Unlock()
			if err == nil {
				break
			}
			p.logf("%v; trying again in 1s", err)
			time.Sleep(time.Second)
		}
	}
}

// minTermUptime is how long a process runs before it is sent SIGTERM: one signalled while the
// Go runtime is still starting, before main installs its handler, dies of the signal, which
// says nothing about its shutdown.
const minTermUptime = time.Second

// delivery is a signal delivered to a running process.
type delivery struct {
	pid       int
	cmd       *exec.Cmd
	exited    <-chan struct{} // closed once the process is reaped: cmd.ProcessState is set
	restarted <-chan struct{} // closed once its successor has started
}

// signal sends sig to the running process and has it restarted after delay; an error means no
// process is running.
func (p *proc) signal(sig syscall.Signal, delay time.Duration) (delivery, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.stopped || p.asked {
		return delivery{}, fmt.Errorf("chaos: %s is not running", p.name)
	}
	select {
	case <-p.exited:
		return delivery{}, fmt.Errorf("chaos: %s is not running", p.name)
	default:
	}
	if sig == syscall.SIGTERM && time.Since(p.since) < minTermUptime {
		return delivery{}, fmt.Errorf("chaos: %s started %s ago", p.name, time.Since(p.since))
	}
	p.asked, p.delay = true, delay
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil {
		p.asked = false
		return delivery{}, fmt.Errorf("chaos: signal %s: %w", p.name, err)
	}
	return delivery{pid: pid, cmd: p.cmd, exited: p.exited, restarted: p.started}, nil
}

// Kill ends the process with SIGKILL (kill -9) and has it started again after delay. A process
// that is between two starts is waited for, up to a minute.
func (p *proc) Kill(delay time.Duration) (delivery, error) {
	return p.signalRunning(syscall.SIGKILL, delay)
}

// Term asks the process to stop with SIGTERM and has it started again after delay, like Kill.
func (p *proc) Term(delay time.Duration) (delivery, error) {
	return p.signalRunning(syscall.SIGTERM, delay)
}

func (p *proc) signalRunning(sig syscall.Signal, delay time.Duration) (delivery, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := p.signal(sig, delay)
		if err == nil || time.Now().After(deadline) {
			return d, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Pause stops the process with SIGSTOP for d and lets it continue (SIGCONT): a frozen VM or
// a very long GC pause, after which its leases and acknowledgement deadlines have run out.
func (p *proc) Pause(ctx context.Context, d time.Duration) (int, error) {
	p.mu.Lock()
	if p.cmd == nil || p.stopped || p.asked {
		p.mu.Unlock()
		return 0, fmt.Errorf("chaos: %s is not running", p.name)
	}
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGSTOP); err != nil {
		p.mu.Unlock()
		return 0, fmt.Errorf("chaos: pause %s: %w", p.name, err)
	}
	p.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	_ = syscall.Kill(-pid, syscall.SIGCONT)
	return pid, nil
}

// errStopTimeout is returned by Stop when the process needed SIGKILL.
var errStopTimeout = errors.New("did not exit after SIGTERM")

// Stop ends supervision: SIGTERM, SIGKILL after timeout. It returns how long the process took
// to exit and its exit error (nil for exit code 0); errStopTimeout when it had to be killed.
func (p *proc) Stop(timeout time.Duration) (time.Duration, error) {
	p.mu.Lock()
	p.stopped = true
	cmd, exited := p.cmd, p.exited
	alreadyAsked := p.asked
	p.asked = true
	p.mu.Unlock()
	if cmd == nil {
		return 0, nil
	}
	start := time.Now()
	select {
	case <-exited:
		<-p.done
		if alreadyAsked {
			return 0, nil // killed by the schedule a moment ago: nothing to judge
		}
		return 0, fmt.Errorf("had already exited: %s", cmd.ProcessState)
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		<-p.done
		return time.Since(start), errStopTimeout
	}
	took := time.Since(start)
	<-p.done
	if !cmd.ProcessState.Success() {
		return took, fmt.Errorf("exited with %s", cmd.ProcessState)
	}
	return took, nil
}

// Crashes returns the exit status of every end nobody asked for.
func (p *proc) Crashes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.crashes...)
}

// Starts is how often the process was started.
func (p *proc) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}
