package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/freeport"
	"github.com/chargeline/chargeline/pkg/process"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	"github.com/chargeline/chargeline/pkg/providers/simserver"
	"github.com/chargeline/chargeline/pkg/sink/clickhouselocal"
)

// Packages are the service binaries a run needs, as package paths for process.Build: each
// from services/<name>, and named <name>.
func Packages() []string {
	return []string{"./services/natsd", "./services/providersim", "./services/poller", "./services/normalizer",
		"./services/sink", "./services/chargectl"}
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

// clusterName is the ClickHouse cluster of a --cluster run (CLICKHOUSE_CLUSTER).
const clusterName = "chargeline"

// natsClusterSize is how many NATS servers a --cluster run starts (streams and buckets R3).
const natsClusterSize = 3

// stack is one scenario's running pipeline: every part a process of its own, ClickHouse (and
// ZooKeeper) run by clickhouselocal.
type stack struct {
	dir      string
	logf     func(string, ...any)
	natsURL  string // every server's URL, comma-separated
	simAddr  string
	nats     []*process.Proc // one, or natsClusterSize: servers n1, n2, n3
	sim      *process.Proc
	services map[string]*process.Proc // poller-<provider>, normalizer, sink
	order    []string                 // start order of services
	ch       *clickhouselocal.Process // a single server; nil on a cluster
	cluster  *clickhouselocal.Cluster // nil on a single server
	nc       *nats.Conn
	js       jetstream.JetStream
	chConn   driver.Conn   // the single server, or every replica (the Distributed tables)
	replicas []driver.Conn // on a cluster: one connection per replica, for the per-replica checks
}

// chAddr says where ClickHouse listens, for the log.
func (s *stack) chAddr() string {
	if s.cluster != nil {
		return strings.Join(s.cluster.Addrs(), ",") + " (cluster " + clusterName + ", ZooKeeper " + s.cluster.ZooKeeper.Addr() + ")"
	}
	return s.ch.Addr()
}

// startNATS starts one natsd, or a cluster of natsClusterSize routed to each other.
func (s *stack) startNATS(ctx context.Context, binDir, logs string, clustered bool) error {
	n := 1
	if clustered {
		n = natsClusterSize
	}
	var clients, routes []int
	for range n {
		c, err := freePort()
		if err != nil {
			return err
		}
		r, err := freePort()
		if err != nil {
			return err
		}
		clients, routes = append(clients, c), append(routes, r)
	}
	var urls []string
	for i := range n {
		urls = append(urls, "nats://127.0.0.1:"+strconv.Itoa(clients[i]))
		name, store := "nats-server", filepath.Join(s.dir, "nats")
		args := []string{"--port", strconv.Itoa(clients[i]), "--http-addr", ""}
		if clustered {
			name, store = fmt.Sprintf("nats-server-n%d", i+1), filepath.Join(s.dir, fmt.Sprintf("nats-n%d", i+1))
			var others []string
			for j, r := range routes {
				if j != i {
					others = append(others, "nats://127.0.0.1:"+strconv.Itoa(r))
				}
			}
			args = append(args, "--server-name", fmt.Sprintf("n%d", i+1), "--cluster-port", strconv.Itoa(routes[i]),
				"--routes", strings.Join(others, ","))
		}
		p := s.proc(name, filepath.Join(binDir, "natsd"), append([]string{"--store", store}, args...), nil, logs)
		if err := p.Start(); err != nil {
			return err
		}
		s.nats = append(s.nats, p)
	}
	s.natsURL = strings.Join(urls, ",")
	var err error
	if s.nc, err = nats.Connect(s.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.Name("chargeline-chaos")); err != nil {
		return fmt.Errorf("chaos: connect to NATS: %w", err)
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	// A cluster elects its JetStream meta leader some moments after the routes are up; a
	// service started before that would fail its provisioning and exit.
	deadline := time.Now().Add(time.Minute)
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := s.js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("chaos: JetStream not available after a minute: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// provision creates the streams and buckets with a replica on every NATS server, retrying
// while the cluster settles.
func (s *stack) provision(ctx context.Context) error {
	topo := bus.Topology{Replicas: len(s.nats), LeaseTTL: leaseTTL}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := bus.Provision(pctx, s.js, topo)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("chaos: provision the NATS cluster: %w", err)
		}
		s.logf("provisioning the NATS cluster: %v; retrying", err)
		wait(ctx, time.Second)
	}
}

func startStack(ctx context.Context, dir, binDir string, sc Scenario, clustered bool, perProvider int, seed int64, logf func(string, ...any)) (_ *stack, err error) {
	s := &stack{dir: dir, logf: logf, services: map[string]*process.Proc{}}
	defer func() {
		if err != nil {
			s.stop(5 * time.Second)
		}
	}()
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	if err := s.startNATS(ctx, binDir, logs, clustered); err != nil {
		return nil, err
	}
	if clustered {
		// Provisioned once before the services start, as an operator would: a dozen services
		// creating R3 streams and buckets at once on a fresh cluster time out (bus.Provision's
		// deadline) and exit 1 until their supervisor has restarted them a few times.
		if err := s.provision(ctx); err != nil {
			return nil, err
		}
	}

	chDSN, addrs := "", []string(nil)
	if clustered {
		if s.cluster, err = clickhouselocal.StartCluster(ctx, filepath.Join(dir, "clickhouse"), clusterName, 2); err != nil {
			return nil, fmt.Errorf("chaos: %w", err)
		}
		chDSN, addrs = s.cluster.DSN(), s.cluster.Addrs()
		for _, a := range addrs {
			conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{a}, DialTimeout: 5 * time.Second})
			if err != nil {
				return nil, fmt.Errorf("chaos: %w", err)
			}
			s.replicas = append(s.replicas, conn)
		}
	} else {
		if s.ch, err = clickhouselocal.Start(ctx, filepath.Join(dir, "clickhouse"), 0); err != nil {
			return nil, fmt.Errorf("chaos: %w", err)
		}
		chDSN, addrs = s.ch.DSN(), []string{s.ch.Addr()}
	}
	if s.chConn, err = clickhouse.Open(&clickhouse.Options{Addr: addrs, DialTimeout: 5 * time.Second}); err != nil {
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
	s.sim = s.proc("providersim", filepath.Join(binDir, "providersim"), simArgs, nil, logs)
	if err := s.sim.Start(); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = process.WaitReady(wctx, "http://"+s.simAddr+"/truth")
	cancel()
	if err != nil {
		return nil, fmt.Errorf("chaos: providersim does not answer: %w", err)
	}

	common := []string{
		"NATS_URL=" + s.natsURL, "LEASE_TTL=" + leaseTTL.String(), "LOG_FORMAT=json", "LOG_LEVEL=info",
		"STREAM_REPLICAS=" + strconv.Itoa(len(s.nats)),
	}
	sinkEnv := []string{"CLICKHOUSE_DSN=" + chDSN, "SINK_ACK_WAIT=" + ackWait.String()}
	if clustered {
		sinkEnv = append(sinkEnv, "CLICKHOUSE_CLUSTER="+clusterName)
	}
	add := func(name, bin string, env ...string) {
		for i := 1; i <= max(sc.Replicas, 1); i++ {
			n := name
			if i > 1 {
				n += "-" + strconv.Itoa(i)
			}
			// An empty HTTP_ADDR means the default; only the flag turns the endpoints off.
			s.services[n] = s.proc(n, filepath.Join(binDir, bin), []string{"--http-addr="}, append(slices.Clone(common), env...), logs)
			s.order = append(s.order, n)
		}
	}
	add("sink", "sink", sinkEnv...)
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
		if err := s.services[name].Start(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// proc is one process of the stack, restarted whenever it ends as an orchestrator would, its
// output in logs/<name>.log.
func (s *stack) proc(name, bin string, args, env []string, logs string) *process.Proc {
	return process.New(process.Config{Name: name, Bin: bin, Args: args, Env: env,
		LogPath: filepath.Join(logs, name+".log"), Logf: s.logf, Restart: true})
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
	for _, c := range s.replicas {
		_ = c.Close()
	}
	if s.ch != nil {
		_ = s.ch.Stop()
	}
	if s.cluster != nil {
		_ = s.cluster.Stop()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	for _, p := range s.nats {
		_, _ = p.Stop(timeout)
	}
}

func freePort() (int, error) {
	port, err := freeport.Get()
	if err != nil {
		return 0, fmt.Errorf("chaos: %w", err)
	}
	return port, nil
}
