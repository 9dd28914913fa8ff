package chaos

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
)

// Scenario is a set of faults injected during one run of the pipeline.
type Scenario struct {
	Name string
	// Kills is how often each service (every poller, the normalizer, the sink) is killed with
	// SIGKILL at a random point of its work and started again.
	Kills int
	// Restarts is how often each service is stopped with SIGTERM (a rolling deploy) and started
	// again; each must exit 0 within Config.StopTimeout.
	Restarts int
	// Pauses is how often each service is frozen (SIGSTOP) for PauseFor and then continued:
	// its leases and acknowledgement deadlines run out while it cannot notice.
	Pauses int
	// Replicas runs this many instances of every service (pollers per provider, normalizers,
	// sinks); default 1. With 2, a paused poller's scopes are taken over by its twin.
	Replicas int
	// NATSRestarts restarts nats-server with SIGTERM; NATSKills with SIGKILL; NATSPauses freezes
	// it (SIGSTOP) for pauseFor: connections stay up, nothing answers.
	NATSRestarts, NATSKills, NATSPauses int
	// ClickHouseOutage stops clickhouse-server this long, once; 0 = never.
	ClickHouseOutage time.Duration
	// ClickHouseKills kills clickhouse-server with SIGKILL (a crash) and starts it again after a
	// few seconds, this many times.
	ClickHouseKills int
	// StreamsFull makes RAW and EVENTS full (their byte limit set to what they hold) for this
	// long, once, then lifts the limit, as an operator would; 0 = never.
	StreamsFull time.Duration
	// ProviderFaults makes the simulators answer 429 storms, 5xx, slow and truncated responses,
	// refuse Mews file URLs as expired and let PIP tokens expire before their announced end.
	ProviderFaults bool
	// Poison publishes PoisonRecords on raw.<provider>.<resource> mid-run.
	Poison bool

	// On a cluster (Config.Cluster) only:

	// NATSLeaderKills kills with SIGKILL the NATS server leading EVENTS (RAW every second time)
	// at that moment, and starts it again after a few seconds, this many times.
	NATSLeaderKills int
	// ReplicaOutage kills with SIGKILL the ClickHouse replica the sink's DSN names first, once,
	// and starts it again this long after; 0 = never.
	ReplicaOutage time.Duration
	// ZooKeeperOutage stops ZooKeeper this long, once (the replicated tables turn read-only,
	// inserts are refused and retried); 0 = never.
	ZooKeeperOutage time.Duration
}

// single reports whether the scenario injects a fault only a single-server stack has.
func (s Scenario) single() bool {
	return s.NATSRestarts+s.NATSKills+s.NATSPauses+s.ClickHouseKills > 0 || s.ClickHouseOutage > 0
}

// clustered reports whether the scenario injects a fault only a cluster has.
func (s Scenario) clustered() bool {
	return s.NATSLeaderKills > 0 || s.ReplicaOutage > 0 || s.ZooKeeperOutage > 0
}

// ScenarioNames lists the scenarios Scenarios knows, in the order they run.
var ScenarioNames = []string{"kill", "restart", "pause", "nats", "clickhouse", "full", "provider", "poison", "all"}

// ClusterScenarioNames lists the scenarios of a cluster run (Config.Cluster), in the order they
// run. The service, stream, provider and poison scenarios of ScenarioNames run on a cluster too.
var ClusterScenarioNames = []string{"nats-leader", "replica", "zookeeper", "cluster"}

// Scenarios returns the named scenarios: kill (every service killed kills times), restart
// (every service stopped with SIGTERM and started again, kills times), pause (two replicas of
// every service, each frozen for longer than a lease and an ack wait, kills times), nats (one
// restart, one kill -9 and one freeze of nats-server), clickhouse (ClickHouse stopped for outage, and killed
// with SIGKILL kills times), full (RAW
// and EVENTS full for outage), provider
// (the simulators' faults), poison (poison records) and all (everything at once). On a cluster:
// nats-leader (the EVENTS or RAW leader killed with SIGKILL kills times), replica (a ClickHouse
// replica killed for outage), zookeeper (ZooKeeper stopped for half the outage) and cluster
// (those three, every service killed kills times, and poison).
func Scenarios(names []string, kills int, outage time.Duration) ([]Scenario, error) {
	var out []Scenario
	for _, n := range names {
		s := Scenario{Name: n}
		switch n {
		case "kill":
			s.Kills = kills
		case "restart":
			s.Restarts = kills
		case "pause":
			s.Pauses, s.Replicas = kills, 2
		case "nats":
			s.NATSRestarts, s.NATSKills, s.NATSPauses = 1, 1, 1
		case "clickhouse":
			s.ClickHouseOutage, s.ClickHouseKills = outage, kills
		case "full":
			s.StreamsFull = outage
		case "provider":
			s.ProviderFaults = true
		case "poison":
			s.Poison = true
		case "all":
			s = Scenario{Name: n, Kills: kills, Restarts: 1, Pauses: 1, Replicas: 2, NATSRestarts: 1, NATSPauses: 1, NATSKills: 1, ClickHouseOutage: outage, ClickHouseKills: 1, StreamsFull: outage, ProviderFaults: true, Poison: true}
		case "nats-leader":
			s.NATSLeaderKills = kills
		case "replica":
			s.ReplicaOutage = outage
		case "zookeeper":
			s.ZooKeeperOutage = outage / 2
		case "cluster":
			s = Scenario{Name: n, Kills: kills, NATSLeaderKills: kills, ReplicaOutage: outage, ZooKeeperOutage: outage / 2, Poison: true}
		default:
			return nil, fmt.Errorf("%w: --scenarios/CHAOS_SCENARIOS: unknown scenario %q (known: %s; with --cluster: %s)",
				config.ErrInvalid, n, strings.Join(ScenarioNames, ", "), strings.Join(ClusterScenarioNames, ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

// Config configures Run.
type Config struct {
	Scenarios []Scenario
	// Cluster runs the pipeline on three NATS servers (streams and buckets with 3 replicas)
	// and a ClickHouse cluster of two replicas and ZooKeeper (CLICKHOUSE_CLUSTER), and compares
	// each replica with the ground truth.
	Cluster bool
	// Records is how many records the five simulators hold together (each a fifth); default
	// 200000.
	Records int
	// Seed seeds the simulators' data and the fault schedule; the same seed gives the same
	// schedule (as points of progress, not of time).
	Seed int64
	// Dir holds the binaries, every process's data and logs, one subdirectory per scenario.
	// Required.
	Dir string
	// ModuleDir is the chargeline module the binaries are built from; default: the module
	// containing the working directory.
	ModuleDir string
	// BinDir holds the binaries of Packages, built already (process.Build); empty: Run builds
	// them into Dir/bin.
	BinDir string
	// SettleTimeout bounds the wait, after the last fault, for the pipeline to catch up;
	// default 10m.
	SettleTimeout time.Duration
	// StopTimeout bounds a service's graceful shutdown at the end; default 30s.
	StopTimeout time.Duration
	// Out receives progress lines; nil discards them.
	Out io.Writer
}

// Settings declares the chaos command's settings.
func Settings() []config.Setting {
	return []config.Setting{
		{Name: "scenarios", Env: "CHAOS_SCENARIOS", Kind: config.List, Usage: "scenarios to run, comma-separated (default: " + strings.Join(ScenarioNames, ", ") +
			"; with --cluster: " + strings.Join(ClusterScenarioNames, ", ") + ")"},
		{Name: "cluster", Env: "CHAOS_CLUSTER", Kind: config.Bool, Default: "false", Usage: "run on 3 NATS servers and 2 ClickHouse replicas with ZooKeeper"},
		{Name: "records", Env: "CHAOS_RECORDS", Kind: config.Int, Default: "200000", Min: 5, Usage: "records the five simulators hold together, per scenario"},
		{Name: "seed", Env: "CHAOS_SEED", Kind: config.Int, Default: "1", Usage: "seed of the data and of the fault schedule"},
		{Name: "kills", Env: "CHAOS_KILLS", Kind: config.Int, Default: "3", Min: 1, Usage: "kill -9 (or SIGTERM, in restart) of each service per scenario"},
		{Name: "clickhouse-outage", Env: "CHAOS_CLICKHOUSE_OUTAGE", Kind: config.Duration, Default: "30s", Min: int64(time.Second), Usage: "how long ClickHouse is stopped (on --cluster: a replica; ZooKeeper half as long)"},
		{Name: "dir", Env: "CHAOS_DIR", Default: ".data/chaos", Usage: "binaries, data and logs of the run (wiped first)"},
		{Name: "settle-timeout", Env: "CHAOS_SETTLE_TIMEOUT", Kind: config.Duration, Default: "15m", Min: int64(time.Second), Usage: "how long the pipeline may take to catch up after the last fault"},
	}
}

// ConfigFrom reads Settings from v.
func ConfigFrom(v config.Values) (Config, error) {
	names := v.List("scenarios")
	if len(names) == 0 {
		names = ScenarioNames
		if v.Bool("cluster") {
			names = ClusterScenarioNames
		}
	}
	sc, err := Scenarios(names, v.Int("kills"), v.Duration("clickhouse-outage"))
	if err != nil {
		return Config{}, err
	}
	return Config{
		Scenarios: sc, Cluster: v.Bool("cluster"), Records: v.Int("records"), Seed: int64(v.Int("seed")), Dir: v.String("dir"),
		SettleTimeout: v.Duration("settle-timeout"),
	}, nil
}

func (c *Config) setDefaults() {
	if c.Records <= 0 {
		c.Records = 200000
	}
	if c.SettleTimeout <= 0 {
		c.SettleTimeout = 10 * time.Minute
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 30 * time.Second
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
}

// Validate reports what is missing.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: chaos: Config.Dir is required", config.ErrInvalid)
	case len(c.Scenarios) == 0:
		return fmt.Errorf("%w: chaos: no scenario to run", config.ErrInvalid)
	}
	var names []string
	for _, s := range c.Scenarios {
		if slices.Contains(names, s.Name) {
			return fmt.Errorf("%w: --scenarios/CHAOS_SCENARIOS names %q twice", config.ErrInvalid, s.Name)
		}
		if c.Cluster && s.single() {
			return fmt.Errorf("%w: scenario %q stops the single NATS or ClickHouse server; on --cluster run %s",
				config.ErrInvalid, s.Name, strings.Join(ClusterScenarioNames, ", "))
		}
		if !c.Cluster && s.clustered() {
			return fmt.Errorf("%w: scenario %q needs --cluster", config.ErrInvalid, s.Name)
		}
		names = append(names, s.Name)
	}
	return nil
}
