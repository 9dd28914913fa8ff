package process_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/process"
)

// start runs this test binary as the child mode under a Proc and stops it when the test ends.
func start(t *testing.T, mode string, restart bool, env ...string) (*process.Proc, string) {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), mode+".log")
	p := process.New(process.Config{
		// GORACE: a child built with -race that exits 0 otherwise sleeps a second first.
		Name: mode, Bin: bin, Env: append([]string{childEnv + "=" + mode, "GORACE=atexit_sleep_ms=0"}, env...), LogPath: logPath,
		Logf: t.Logf, Restart: restart, CrashDelay: 50 * time.Millisecond,
	})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop(5 * time.Second) })
	return p, logPath
}

// waitFor polls cond until it holds; the bound only keeps a broken Proc from hanging the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closed waits for ch to close; the bound is waitFor's.
func closed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("waited 30s for %s", what)
	}
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var readyRe = regexp.MustCompile(`(?m)^ready (\d+)$`)

// readyPIDs are the pids of the runs that printed "ready", in order.
func readyPIDs(t *testing.T, logPath string) []int {
	t.Helper()
	var pids []int
	for _, m := range readyRe.FindAllStringSubmatch(readLog(t, logPath), -1) {
		pid, _ := strconv.Atoi(m[1])
		pids = append(pids, pid)
	}
	return pids
}

// waitReady waits until n runs have printed "ready" and returns the last one's pid.
func waitReady(t *testing.T, logPath string, n int) int {
	t.Helper()
	var pids []int
	waitFor(t, strconv.Itoa(n)+` "ready" lines in `+logPath, func() bool {
		pids = readyPIDs(t, logPath)
		return len(pids) >= n
	})
	return pids[n-1]
}

func signalled(st *os.ProcessState) syscall.Signal {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

// counts checks how often p was started and which crashes it counted.
func counts(t *testing.T, p *process.Proc, starts int, crashes ...string) {
	t.Helper()
	if n := p.Starts(); n != starts {
		t.Errorf("Starts() = %d, want %d", n, starts)
	}
	if c := p.Crashes(); !slices.Equal(c, crashes) {
		t.Errorf("Crashes() = %q, want %q", c, crashes)
	}
}

// TestCrashIsRestartedAndLogged: a process that exits on its own is a crash: counted with its
// exit status and started again, and the log file keeps the output of both starts in order.
func TestCrashIsRestartedAndLogged(t *testing.T) {
	p, logPath := start(t, "crash-once", true, markerEnv+"="+filepath.Join(t.TempDir(), "crashed"))
	waitReady(t, logPath, 1) // the second start serves
	counts(t, p, 2, "exit status 3")
	if _, err := p.Stop(10 * time.Second); err != nil {
		t.Errorf("Stop: %v", err)
	}
	log := readLog(t, logPath)
	var at []int
	for _, s := range []string{"=== process: start 1 of crash-once", "crashing", "=== process: start 2 of crash-once", "ready", "terminated"} {
		i := strings.Index(log, s)
		if i < 0 || (len(at) > 0 && i < at[len(at)-1]) {
			t.Fatalf("the log lacks %q after the lines before it:\n%s", s, log)
		}
		at = append(at, i)
	}
}

// TestKillRestartsAfterTheDelay: Kill ends the run with SIGKILL, which is no crash, and the
// next run starts once the delay asked for has passed.
func TestKillRestartsAfterTheDelay(t *testing.T) {
	p, logPath := start(t, "serve", true)
	first := waitReady(t, logPath, 1)
	const delay = 300 * time.Millisecond
	killed := time.Now()
	d, err := p.Kill(t.Context(), delay)
	if err != nil {
		t.Fatal(err)
	}
	if d.PID != first {
		t.Errorf("Kill delivered to pid %d, want the running %d", d.PID, first)
	}
	closed(t, "the killed run to be reaped", d.Exited)
	if sig := signalled(d.State()); sig != syscall.SIGKILL {
		t.Errorf("the killed run ended with %s, want SIGKILL", d.State())
	}
	closed(t, "the restart", d.Restarted)
	if took := time.Since(killed); took < delay {
		t.Errorf("restarted %s after Kill, before the delay of %s", took, delay)
	}
	if second := waitReady(t, logPath, 2); second == first {
		t.Errorf("the restart runs as pid %d, the killed run's", second)
	}
	counts(t, p, 2) // a Kill is no crash
}

// TestTermIsAGracefulEnd: Term delivers SIGTERM (once the child could have installed its
// handler), the run's exit status is the child's own, and it is restarted.
func TestTermIsAGracefulEnd(t *testing.T) {
	p, logPath := start(t, "serve", true)
	waitReady(t, logPath, 1)
	d, err := p.Term(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	closed(t, "the terminated run to be reaped", d.Exited)
	if !d.State().Success() {
		t.Errorf("the run ended with %s after SIGTERM, want exit 0", d.State())
	}
	closed(t, "the restart", d.Restarted)
	waitReady(t, logPath, 2)
	counts(t, p, 2) // a Term is no crash
}

// TestStopOfAGracefulProcess: Stop of a process that exits 0 on SIGTERM returns nil and ends
// supervision: nothing is started again.
func TestStopOfAGracefulProcess(t *testing.T) {
	p, logPath := start(t, "serve", true)
	waitReady(t, logPath, 1)
	if _, err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	closed(t, "Done", p.Done())
	if !strings.Contains(readLog(t, logPath), "terminated") {
		t.Errorf("the child never saw SIGTERM:\n%s", readLog(t, logPath))
	}
	counts(t, p, 1)
}

// TestStopKillsWhatIgnoresSIGTERM: Stop of a process that ignores SIGTERM kills it after the
// timeout and says so with ErrStopTimeout.
func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	p, logPath := start(t, "ignore", true)
	waitReady(t, logPath, 1)
	_, err := p.Stop(200 * time.Millisecond)
	if !errors.Is(err, process.ErrStopTimeout) {
		t.Fatalf("Stop = %v, want ErrStopTimeout", err)
	}
	if sig := signalled(p.State()); sig != syscall.SIGKILL {
		t.Errorf("the process ended with %s, want SIGKILL", p.State())
	}
	counts(t, p, 1)
}

// TestOneShotExitStatus: without Restart, a process that ends on its own stays ended; Done,
// State and Crashes say how, and Stop reports it.
func TestOneShotExitStatus(t *testing.T) {
	p, _ := start(t, "exit", false, codeEnv+"=7")
	closed(t, "Done", p.Done())
	if st := p.State(); st == nil || st.ExitCode() != 7 {
		t.Fatalf("State() = %v, want exit status 7", st)
	}
	counts(t, p, 1, "exit status 7") // a one-shot process is not restarted
	if _, err := p.Stop(time.Second); err == nil || !strings.Contains(err.Error(), "had already exited: exit status 7") {
		t.Errorf("Stop = %v, want it to report the exit before it", err)
	}
}

// TestOneShotStopExitStatus: Stop of a one-shot process returns the exit status of the
// SIGTERMed process: nil for 0, an *exec.ExitError with the code otherwise.
func TestOneShotStopExitStatus(t *testing.T) {
	for _, code := range []int{0, 5} {
		t.Run("exit "+strconv.Itoa(code), func(t *testing.T) {
			p, logPath := start(t, "serve", false, codeEnv+"="+strconv.Itoa(code))
			waitReady(t, logPath, 1)
			_, err := p.Stop(10 * time.Second)
			var ee *exec.ExitError
			switch {
			case code == 0 && err != nil:
				t.Errorf("Stop = %v, want nil", err)
			case code != 0 && (!errors.As(err, &ee) || ee.ExitCode() != code):
				t.Errorf("Stop = %v, want an *exec.ExitError with code %d", err, code)
			}
			if st := p.State(); st == nil || st.ExitCode() != code {
				t.Errorf("State() = %v, want exit status %d", st, code)
			}
			closed(t, "Done", p.Done())
		})
	}
}

// TestPauseStopsAndContinues: Pause freezes the process (SIGSTOP) until its time or ctx is
// over, then lets it continue (SIGCONT).
func TestPauseStopsAndContinues(t *testing.T) {
	p, logPath := start(t, "serve", true)
	pid := waitReady(t, logPath, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	paused := make(chan int, 1)
	go func() {
		got, err := p.Pause(ctx, time.Hour)
		if err != nil {
			t.Error(err)
		}
		paused <- got
	}()
	waitFor(t, "the child to be stopped", func() bool { return procState(t, pid) == "T" })
	cancel()
	if got := <-paused; got != pid {
		t.Errorf("Pause returned pid %d, want %d", got, pid)
	}
	waitFor(t, "the child to continue", func() bool { return procState(t, pid) != "T" })
	if _, err := p.Stop(10 * time.Second); err != nil {
		t.Errorf("Stop after the pause: %v", err)
	}
}

// procState is the state letter of /proc/<pid>/stat: "T" while stopped by a signal.
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) == 0 {
		t.Fatalf("unreadable %s", s)
	}
	return fields[0]
}

// TestStartFailure: a binary that cannot start is Start's error, and supervision is over.
func TestStartFailure(t *testing.T) {
	p := process.New(process.Config{Name: "missing", Bin: filepath.Join(t.TempDir(), "missing"), LogPath: filepath.Join(t.TempDir(), "log"), Restart: true})
	if err := p.Start(); err == nil {
		t.Fatal("Start of a missing binary succeeded")
	}
	closed(t, "Done", p.Done())
	counts(t, p, 0)
}
