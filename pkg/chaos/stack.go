package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	"github.com/chargeline/chargeline/pkg/providers/simserver"
	"github.com/chargeline/chargeline/pkg/sink/clickhouselocal"
)

// Commands are the binaries Build compiles, each from services/<name>.
var Commands = []string{"natsd", "providersim", "poller", "normalizer", "sink", "chargectl"}

// Build compiles Commands into binDir, from the chargeline module at
// moduleDir ("" = the module containing the working directory).
func Build(ctx context.Context, moduleDir, binDir string) error {
	if moduleDir == "" {
		var err error
		if moduleDir, err = findModule(); err != nil {
			return err
		}
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	args := []string{"build", "-o", binDir + string(filepath.Separator)}
	for _, c := range Commands {
		args = append(args, "./services/"+c)
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("chaos: go build: %w\n%s", err, out)
	}
	return nil
}

// findModule walks up from the working directory to chargeline's go.mod.
func findModule() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("chaos: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/chargeline/chargeline\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("chaos: not inside the chargeline module; set Config.ModuleDir")
		}
		dir = parent
	}
}

// Timings the harness gives the services, so kills and restarts are recovered from quickly.
const (
	leaseTTL     = 4 * time.Second
	pollInterval = time.Second
	ackWait      = 10 * time.Second
)

// providerFaultArgs are providersim's fault flags in a scenario with provider faults: rare
// enough that every provider makes progress, frequent enough that each fires many times.
var providerFaultArgs = []string{
	"--fault-429-every=97", "--fault-429-burst=4", "--fault-retry-after=1s",
	"--fault-500-every=41",
	"--fault-slow-every=53", "--fault-slow-delay=1500ms",
	"--fault-truncate-every=37",
	"--fault-expire-url-every=3",
	"--fault-token-lifetime=20s",
}

// stack is one scenario's running pipeline: every part a process of its own except ClickHouse,
// which clickhouselocal runs (also a process of its own).
type stack struct {
	dir      string
	logf     func(string, ...any)
	natsURL  string
	simAddr  string
	nats     *proc
	sim      *proc
	services map[string]*proc // poller-<provider>, normalizer, sink
	order    []string         // start order of services
	ch       *clickhouselocal.Process
	nc       *nats.Conn
	js       jetstream.JetStream
	chConn   driver.Conn
}

func startStack(ctx context.Context, dir, binDir string, sc Scenario, perProvider int, seed int64, logf func(string, ...any)) (_ *stack, err error) {
	s := &stack{dir: dir, logf: logf, services: map[string]*proc{}}
	defer func() {
		if err != nil {
			s.stop(5 * time.Second)
		}
	}()
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	natsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s.natsURL = "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	s.nats = newProc("nats-server", filepath.Join(binDir, "natsd"),
		[]string{"--store", filepath.Join(dir, "nats"), "--port", strconv.Itoa(natsPort), "--http-addr", ""},
		nil, filepath.Join(logs, "nats-server.log"), logf)
	if err := s.nats.run(); err != nil {
		return nil, err
	}
	if s.nc, err = nats.Connect(s.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.Name("chargeline-chaos")); err != nil {
		return nil, fmt.Errorf("chaos: connect to NATS: %w", err)
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}

	if s.ch, err = clickhouselocal.Start(ctx, filepath.Join(dir, "clickhouse"), 0); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	if s.chConn, err = clickhouse.Open(&clickhouse.Options{Addr: []string{s.ch.Addr()}, DialTimeout: 5 * time.Second}); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}

	simPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s.simAddr = "127.0.0.1:" + strconv.Itoa(simPort)
	simArgs := []string{"--addr", s.simAddr, "--records", strconv.Itoa(perProvider), "--seed", strconv.FormatInt(seed, 10), "--http-addr", ""}
	if sc.ProviderFaults {
		simArgs = append(simArgs, providerFaultArgs...)
	}
	s.sim = newProc("providersim", filepath.Join(binDir, "providersim"), simArgs, nil, filepath.Join(logs, "providersim.log"), logf)
	if err := s.sim.run(); err != nil {
		return nil, err
	}
	if err := s.waitSim(ctx); err != nil {
		return nil, err
	}

	common := []string{
		"NATS_URL=" + s.natsURL, "LEASE_TTL=" + leaseTTL.String(), "LOG_FORMAT=json", "LOG_LEVEL=info",
	}
	add := func(name, bin string, env ...string) {
		for i := 1; i <= max(sc.Replicas, 1); i++ {
			n := name
			if i > 1 {
				n += "-" + strconv.Itoa(i)
			}
			// An empty HTTP_ADDR means the default; only the flag turns the endpoints off.
			s.services[n] = newProc(n, filepath.Join(binDir, bin), []string{"--http-addr="}, append(slices.Clone(common), env...),
				filepath.Join(logs, n+".log"), logf)
			s.order = append(s.order, n)
		}
	}
	add("sink", "sink", "CLICKHOUSE_DSN="+s.ch.DSN(), "SINK_ACK_WAIT="+ackWait.String())
	add("normalizer", "normalizer", "NORMALIZER_ACK_WAIT="+ackWait.String())
	for _, p := range providers.All() {
		env := []string{"POLLER_PROVIDER=" + p.Name(), "POLL_INTERVAL=" + pollInterval.String()}
		for k, v := range p.SimEnv(simserver.BaseURL(s.simAddr, p.Name())) {
			env = append(env, k+"="+v)
		}
		slices.Sort(env)
		add("poller-"+p.Name(), "poller", env...)
	}
	for _, name := range s.order {
		if err := s.services[name].run(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// waitSim waits until providersim answers /truth.
func (s *stack) waitSim(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := s.truth(ctx); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("chaos: providersim does not answer: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// truth fetches the simulators' ground truth from providersim.
func (s *stack) truth(ctx context.Context) (map[string]sim.Truth, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.simAddr+"/truth", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /truth: %s", resp.Status)
	}
	var t map[string]sim.Truth
	if err := json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&t); err != nil {
		return nil, fmt.Errorf("GET /truth: %w", err)
	}
	return t, nil
}

// stopResult is how a service ended at the end of the run.
type stopResult struct {
	name string
	took time.Duration
	err  error
}

// stopServices stops the services gracefully, pollers first (the order a rollout would).
func (s *stack) stopServices(timeout time.Duration) []stopResult {
	var out []stopResult
	for i := len(s.order) - 1; i >= 0; i-- {
		name := s.order[i]
		took, err := s.services[name].Stop(timeout)
		out = append(out, stopResult{name: name, took: took, err: err})
	}
	return out
}

// stop ends everything still running.
func (s *stack) stop(timeout time.Duration) {
	for i := len(s.order) - 1; i >= 0; i-- {
		_, _ = s.services[s.order[i]].Stop(timeout)
	}
	if s.sim != nil {
		_, _ = s.sim.Stop(timeout)
	}
	if s.chConn != nil {
		_ = s.chConn.Close()
	}
	if s.ch != nil {
		_ = s.ch.Stop()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.nats != nil {
		_, _ = s.nats.Stop(timeout)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("chaos: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
