package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Config says what Proc runs.
type Config struct {
	Name    string   // in log lines and errors
	Bin     string   // the binary
	Args    []string // its arguments
	Env     []string // added to the harness's environment; later entries win
	LogPath string   // stdout and stderr of every start, appended
	// Logf receives what the supervision does on its own (a restart after a crash); nil logs
	// with slog.
	Logf func(format string, a ...any)
	// Restart starts the process again whenever it ends, until Stop, the way an orchestrator
	// restarts a crashed container. Without it the process runs once: an end is final, and
	// Done and State say how it went.
	Restart bool
	// CrashDelay is the wait before restarting after an end nobody asked for; default 1s.
	CrashDelay time.Duration
}

// Proc is one child process under supervision. An end the harness asked for (Kill, Term) is
// restarted after the delay the harness chose; an end nobody asked for counts as a crash and
// is restarted after Config.CrashDelay. Methods are safe for concurrent use.
type Proc struct {
	cfg Config

	mu      sync.Mutex
	cmd     *exec.Cmd     // the current (or last) process
	exited  chan struct{} // closed when cmd has been reaped: cmd.ProcessState is set
	started chan struct{} // closed at the next start; replaced at every start
	starts  int
	since   time.Time     // when the current process started
	asked   bool          // the current process's end was asked for
	delay   time.Duration // before the next start after an asked-for end
	stopped bool
	crashes []string      // exit status of every end nobody asked for
	quit    chan struct{} // closed by the first Stop: cuts a restart delay short
	done    chan struct{} // closed when supervision is over: nothing runs, nothing will start
}

// New returns a Proc for cfg; Start starts it.
func New(cfg Config) *Proc {
	if cfg.Logf == nil {
		cfg.Logf = func(format string, a ...any) { slog.Info(fmt.Sprintf(format, a...)) }
	}
	if cfg.CrashDelay <= 0 {
		cfg.CrashDelay = time.Second
	}
	return &Proc{cfg: cfg, started: make(chan struct{}), quit: make(chan struct{}), done: make(chan struct{})}
}

// Name is Config.Name.
func (p *Proc) Name() string { return p.cfg.Name }

// Start starts the process and supervises it in the background. An error is the first
// start's, after which nothing runs and Done is closed.
func (p *Proc) Start() error {
	p.mu.Lock()
	var err error
	switch {
	case p.cfg.Bin == "" || p.cfg.LogPath == "":
		err = fmt.Errorf("process: %s: Config.Bin and Config.LogPath are required", p.cfg.Name)
	case p.cmd != nil || p.stopped:
		p.mu.Unlock()
		return fmt.Errorf("process: %s was started already", p.cfg.Name)
	default:
		err = p.startLocked()
	}
	p.mu.Unlock()
	if err != nil {
		close(p.done)
		return err
	}
	go p.supervise()
	return nil
}

func (p *Proc) startLocked() error {
	logf, err := os.OpenFile(p.cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("process: %s log: %w", p.cfg.Name, err)
	}
	fmt.Fprintf(logf, "=== process: start %d of %s at %s\n", p.starts+1, p.cfg.Name, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(p.cfg.Bin, p.cfg.Args...)
	cmd.Env = append(os.Environ(), p.cfg.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a kill reaches nothing else; Pdeathsig, so a harness that dies
	// (Ctrl-C twice, a test timeout) leaves no child behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("process: start %s: %w", p.cfg.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status is in cmd.ProcessState
		logf.Close()
		close(exited)
	}()
	p.cmd, p.exited, p.since = cmd, exited, time.Now()
	p.asked, p.delay = false, 0
	p.starts++
	close(p.started)
	p.started = make(chan struct{})
	return nil
}

func (p *Proc) supervise() {
	defer close(p.done)
	for {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		<-exited

		// asked stays set until the next start, so that a Stop in between knows the end was
		// asked for and does not report it as the process's own.
		p.mu.Lock()
		asked, delay, stopped := p.asked, p.delay, p.stopped
		state := p.cmd.ProcessState.String()
		if !asked {
			p.crashes = append(p.crashes, state)
			delay = p.cfg.CrashDelay
		}
		p.mu.Unlock()
		if stopped {
			return
		}
		if !p.cfg.Restart {
			return // Done and State tell whoever runs it once
		}
		if !asked {
			p.cfg.Logf("%s ended on its own (%s); restarting it in %s (see %s)", p.cfg.Name, state, delay, p.cfg.LogPath)
		}
		if !p.sleep(delay) {
			return
		}
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
			p.cfg.Logf("%v; trying again in 1s", err)
			if !p.sleep(time.Second) {
				return
			}
		}
	}
}

// sleep waits d; false means Stop was called meanwhile.
func (p *Proc) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.quit:
		return false
	}
}

// minTermUptime is how long a process runs before Term sends it SIGTERM: one signalled while
// the Go runtime is still starting, before main installs its handler, dies of the signal,
// which says nothing about its shutdown.
const minTermUptime = time.Second

// Delivery is a signal delivered to one run of the process.
type Delivery struct {
	PID       int
	Exited    <-chan struct{} // closed once that run has been reaped
	Restarted <-chan struct{} // closed once its successor has started; never without Config.Restart
	cmd       *exec.Cmd
}

// State is how the signalled run ended; nil until Exited is closed.
func (d Delivery) State() *os.ProcessState {
	select {
	case <-d.Exited:
		return d.cmd.ProcessState
	default:
		return nil
	}
}

// Kill sends SIGKILL to the signalled run's process group: for one that did not exit after
// the signal delivered. It is restarted after the delay the delivery asked for.
func (d Delivery) Kill() error {
	if err := syscall.Kill(-d.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("process: kill %d: %w", d.PID, err)
	}
	return nil
}

// signal sends sig to the running process and has it restarted after delay; an error means no
// process is running.
func (p *Proc) signal(sig syscall.Signal, delay time.Duration) (Delivery, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.stopped || p.asked {
		return Delivery{}, fmt.Errorf("process: %s is not running", p.cfg.Name)
	}
	select {
	case <-p.exited:
		return Delivery{}, fmt.Errorf("process: %s is not running", p.cfg.Name)
	default:
	}
	if sig == syscall.SIGTERM && time.Since(p.since) < minTermUptime {
		return Delivery{}, fmt.Errorf("process: %s started %s ago", p.cfg.Name, time.Since(p.since))
	}
	p.asked, p.delay = true, delay
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil {
		p.asked = false
		return Delivery{}, fmt.Errorf("process: signal %s: %w", p.cfg.Name, err)
	}
	return Delivery{PID: pid, Exited: p.exited, Restarted: p.started, cmd: p.cmd}, nil
}

// Kill ends the process with SIGKILL (kill -9) and has it started again after delay. A process
// that is between two starts is waited for, up to a minute or until ctx ends.
func (p *Proc) Kill(ctx context.Context, delay time.Duration) (Delivery, error) {
	return p.signalRunning(ctx, syscall.SIGKILL, delay)
}

// Term asks the process to stop with SIGTERM and has it started again after delay, like Kill.
// A process is signalled only once it has run for minTermUptime.
func (p *Proc) Term(ctx context.Context, delay time.Duration) (Delivery, error) {
	return p.signalRunning(ctx, syscall.SIGTERM, delay)
}

func (p *Proc) signalRunning(ctx context.Context, sig syscall.Signal, delay time.Duration) (Delivery, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := p.signal(sig, delay)
		if err == nil || time.Now().After(deadline) {
			return d, err
		}
		select {
		case <-ctx.Done():
			return d, fmt.Errorf("%w: %w", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Pause stops the process with SIGSTOP for d, or until ctx ends, and lets it continue
// (SIGCONT): a frozen VM or a very long GC pause, after which its leases and acknowledgement
// deadlines have run out. It returns the pid it paused.
func (p *Proc) Pause(ctx context.Context, d time.Duration) (int, error) {
	p.mu.Lock()
	if p.cmd == nil || p.stopped || p.asked {
		p.mu.Unlock()
		return 0, fmt.Errorf("process: %s is not running", p.cfg.Name)
	}
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGSTOP); err != nil {
		p.mu.Unlock()
		return 0, fmt.Errorf("process: pause %s: %w", p.cfg.Name, err)
	}
	p.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	_ = syscall.Kill(-pid, syscall.SIGCONT)
	return pid, nil
}

// ErrStopTimeout is returned by Stop when the process needed SIGKILL.
var ErrStopTimeout = errors.New("did not exit after SIGTERM")

// Stop ends supervision: SIGTERM, SIGKILL after timeout. It returns how long the process took
// to exit and its exit error (nil for exit code 0, an *exec.ExitError otherwise);
// ErrStopTimeout when it had to be killed. A process that had already ended on its own is
// reported as such; one whose end was asked for (Kill, Term) a moment ago returns nil.
func (p *Proc) Stop(timeout time.Duration) (time.Duration, error) {
	p.mu.Lock()
	if !p.stopped {
		close(p.quit)
	}
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
			return 0, nil // killed by the harness a moment ago: nothing to judge
		}
		return 0, fmt.Errorf("had already exited: %s", cmd.ProcessState)
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		<-p.done
		return time.Since(start), ErrStopTimeout
	}
	took := time.Since(start)
	<-p.done
	if !cmd.ProcessState.Success() {
		return took, fmt.Errorf("exited with %w", &exec.ExitError{ProcessState: cmd.ProcessState})
	}
	return took, nil
}

// Done is closed when supervision is over: after Stop, after a failed Start, and without
// Config.Restart once the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// State is how the last run ended; nil while it runs or before Start.
func (p *Proc) State() *os.ProcessState {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	select {
	case <-p.exited:
		return p.cmd.ProcessState
	default:
		return nil
	}
}

// Crashes returns the exit status of every end nobody asked for.
func (p *Proc) Crashes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.crashes...)
}

// Starts is how often the process was started.
func (p *Proc) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}
