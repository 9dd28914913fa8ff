package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chargeline/chargeline/pkg/bus"
)

// InfraArg is the first argument that makes the harness binary (or the package's test binary)
// call ServeInfra instead of running the harness: Config.InfraCommand is the binary and this.
const InfraArg = "bench-infra"

// The infrastructure runs in a child process so that the harness process holds only the code
// under test: its peak RSS and CPU time are the services', not NATS's or the provider's.
type infraRequest struct {
	Store   string `json:"store"`   // NATS store directory
	Records int    `json:"records"` // Be-Mo sessions to serve; 0 = no API
	Seed    int64  `json:"seed"`
	// NATSServers > 1 runs a NATS cluster of that many servers (stores under Store).
	NATSServers int `json:"nats_servers,omitempty"`
	// MewsRecords > 0 serves the Mews simulator with that many bills under /mews.
	MewsRecords int `json:"mews_records,omitempty"`
}

type infraInfo struct {
	NATSURL string `json:"nats_url"`
	BemoURL string `json:"bemo_url,omitempty"`
	MewsURL string `json:"mews_url,omitempty"`
	// MewsBills is the number of bills the Mews simulator holds (its Truth().Records).
	MewsBills int    `json:"mews_bills,omitempty"`
	Error     string `json:"error,omitempty"`
}

// ServeInfra is the infrastructure child's main: it reads one JSON request line from in, starts
// an embedded NATS server with JetStream and, if asked, the simulated Be-Mo API, answers with
// one JSON line on out, and serves until in is closed (the parent stopping or dying). It returns
// the process exit code.
func ServeInfra(in io.Reader, out io.Writer) int {
	fail := func(err error) int {
		_ = json.NewEncoder(out).Encode(infraInfo{Error: err.Error()})
		return 1
	}
	r := bufio.NewReader(in)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return fail(fmt.Errorf("bench infra: read request: %w", err))
	}
	var req infraRequest
	if err := json.Unmarshal(line, &req); err != nil {
		return fail(fmt.Errorf("bench infra: request: %w", err))
	}
	var info infraInfo
	if req.NATSServers > 1 {
		servers, url, err := runNATSCluster(req.Store, req.NATSServers)
		if err != nil {
			return fail(err)
		}
		defer shutdownAll(servers)
		info.NATSURL = url
	} else {
		ns, err := bus.RunEmbedded(req.Store, "127.0.0.1", -1)
		if err != nil {
			return fail(err)
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		info.NATSURL = ns.ClientURL()
	}
	if req.Records > 0 {
		recs, err := genRecords(req.Seed, req.Records)
		if err != nil {
			return fail(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fail(fmt.Errorf("bench infra: %w", err))
		}
		srv := &http.Server{Handler: http.StripPrefix("/bemo", newBemoAPI(recs)), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		info.BemoURL = "http://" + ln.Addr().String() + "/bemo"
	}
	if req.MewsRecords > 0 {
		url, bills, stop, err := serveMews(req.Seed, req.MewsRecords)
		if err != nil {
			return fail(err)
		}
		defer stop()
		info.MewsURL, info.MewsBills = url, bills
	}
	if err := json.NewEncoder(out).Encode(info); err != nil {
		return 1
	}
	_, _ = io.Copy(io.Discard, r) // until the parent closes our stdin
	return 0
}

// infra is the parent's handle on the child.
type infra struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	exited    chan struct{}
	natsURL   string
	bemoURL   string
	mewsURL   string
	mewsBills int
}

func startInfra(ctx context.Context, command []string, req infraRequest, stderr io.Writer) (*infra, error) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stderr = stderr
	// The child dies with us, whatever kills us.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: infra: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: infra: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start infra %s: %w", strings.Join(command, " "), err)
	}
	in := &infra{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(in.exited) }()
	b, _ := json.Marshal(req)
	if _, err := stdin.Write(append(b, '\n')); err != nil {
		in.stop()
		return nil, fmt.Errorf("bench: infra: %w", err)
	}
	answer := make(chan infraInfo, 1)
	go func() {
		var info infraInfo
		if err := json.NewDecoder(stdout).Decode(&info); err != nil {
			info.Error = "no answer: " + err.Error()
		}
		answer <- info
	}()
	select {
	case info := <-answer:
		if info.Error != "" {
			in.stop()
			return nil, fmt.Errorf("bench: infra: %s", info.Error)
		}
		in.natsURL, in.bemoURL, in.mewsURL, in.mewsBills = info.NATSURL, info.BemoURL, info.MewsURL, info.MewsBills
		return in, nil
	case <-ctx.Done():
		in.stop()
		return nil, ctx.Err()
	case <-time.After(5 * time.Minute):
		in.stop()
		return nil, errors.New("bench: infra did not start within 5 minutes")
	}
}

// cpu returns the child's user+system CPU time so far.
func (in *infra) cpu() time.Duration { return procCPU(in.cmd.Process.Pid) }

// stop closes the child's stdin, which ends it, and waits; it kills it after 30s.
func (in *infra) stop() {
	_ = in.stdin.Close()
	select {
	case <-in.exited:
	case <-time.After(30 * time.Second):
		_ = in.cmd.Process.Kill()
		<-in.exited
	}
}

// procCPU reads utime+stime of a process from /proc/<pid>/stat (clock ticks of 1/100 s); 0 if
// it cannot.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
