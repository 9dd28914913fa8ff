package clickhouselocal

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// daemon is one server process that can be started again after it ended: clickhouse-server or
// ZooKeeper. Its methods are safe for concurrent use.
type daemon struct {
	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when the current process has been reaped.
	exited chan struct{}
}

// start runs argv in dir in a process group of its own, its output collected in out.
func (d *daemon) start(dir, bin string, args ...string) (exited <-chan struct{}, out *bytes.Buffer, err error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so stop reaches every child and a Ctrl-C in a terminal reaches
	// only the parent, which stops the server in order. Pdeathsig: a parent killed with -9 (a
	// test binary hitting its timeout, devstack crashing) must not leave a server running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("clickhouselocal: start %s: %w", bin, err)
	}
	ch := make(chan struct{})
	go func() { _ = cmd.Wait(); close(ch) }()
	d.mu.Lock()
	d.cmd, d.exited = cmd, ch
	d.mu.Unlock()
	return ch, out, nil
}

// pid is the current process's id, 0 when none runs.
func (d *daemon) pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

func (d *daemon) running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd != nil
}

// take forgets the current process and returns it (nil when none runs).
func (d *daemon) take() (*exec.Cmd, chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cmd, exited := d.cmd, d.exited
	d.cmd = nil
	return cmd, exited
}

// stop sends SIGTERM to the process group, SIGKILL after grace, and waits for the exit. A
// frozen process is continued first, or SIGTERM would wait for the grace period.
func (d *daemon) stop(grace time.Duration) {
	cmd, exited := d.take()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// kill ends the process group at once (SIGKILL), the way a crash would, and waits for the exit.
func (d *daemon) kill() {
	cmd, exited := d.take()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

func (d *daemon) signal(sig syscall.Signal) error {
	d.mu.Lock()
	cmd := d.cmd
	d.mu.Unlock()
	if cmd == nil {
		return errors.New("clickhouselocal: server not running")
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("clickhouselocal: %v: %w", sig, err)
	}
	return nil
}
