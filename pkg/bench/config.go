package bench

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
)

// Scenario names, in the order Run runs them.
const (
	ScenarioSink       = "sink"
	ScenarioNormalizer = "normalizer"
	ScenarioPoller     = "poller"
	ScenarioE2E        = "e2e"
	ScenarioE2ECluster = "e2e-cluster"
	ScenarioE2ETraced  = "e2e-traced"
	ScenarioLatency    = "latency"
	ScenarioScaling    = "scaling"
	ScenarioMewsExport = "mews-export"
)

// Scenarios lists every scenario in run order.
func Scenarios() []string {
	return []string{ScenarioSink, ScenarioNormalizer, ScenarioPoller, ScenarioE2E, ScenarioE2ECluster, ScenarioE2ETraced, ScenarioLatency, ScenarioScaling, ScenarioMewsExport}
}

// Config configures a harness run. The zero value of a field means its default: volumes that
// finish in a few minutes on 2 cores; Full raises them to the issue's, Quick lowers them to a
// smoke test's.
type Config struct {
	// Dir holds the ClickHouse data, the NATS stores and the services' log; it is wiped first.
	// Default .data/bench.
	Dir string `json:"dir"`
	// Report is where the JSON report is written; default <Dir>/report.json.
	Report string `json:"report"`
	// Scenarios to run, a subset of Scenarios(); default all.
	Scenarios []string `json:"scenarios"`
	// Record counts per scenario: SinkRecords events pre-loaded on EVENTS, NormalizerRecords and
	// ScalingRecords raw records pre-loaded on RAW, PollerRecords and E2ERecords Be-Mo sessions
	// behind the simulated API. Defaults 200k, 100k, 500k, 300k, 100k (Full: 500k, 500k, 500k,
	// 1M, 200k; Quick: 20k, 20k, 20k, 50k, 20k).
	SinkRecords       int `json:"sink_records"`
	NormalizerRecords int `json:"normalizer_records"`
	PollerRecords     int `json:"poller_records"`
	E2ERecords        int `json:"e2e_records"`
	ScalingRecords    int `json:"scaling_records"`
	// MewsExportMB is about how large the Mews export of the mews-export scenario is, in MiB;
	// default 1024, the 1 GB (Quick: 4).
	MewsExportMB int `json:"mews_export_mb"`
	// LatencyRate (records/s) and LatencyDuration shape the steady-rate run; defaults 5000/s, 30s.
	LatencyRate     int           `json:"latency_rate"`
	LatencyDuration time.Duration `json:"latency_duration_ns"`
	// LatencyBatchAge is the sink's SINK_BATCH_AGE in the steady-rate run: a row waits up to that
	// long for its batch (1s by default, which alone would use up the 1s p99 target). Default
	// 250ms.
	LatencyBatchAge time.Duration `json:"latency_batch_age_ns"`
	// Repeat is how often the sink, normalizer and poller scenarios run their baseline and
	// service, alternately; the fastest run of each is reported. Default 2 (Quick: 1).
	Repeat int `json:"repeat"`
	// Quick makes every default small enough for a smoke run (a minute or two in all).
	Quick bool `json:"quick"`
	// Full makes the defaults the volumes (half an hour and more on 2 cores).
	Full bool `json:"full"`
	// Seed seeds the synthetic Be-Mo data; default 1.
	Seed int64 `json:"seed"`
	// RunTimeout bounds one measured run; default 15m.
	RunTimeout time.Duration `json:"run_timeout_ns"`
	// FailOnMiss makes Run return ErrTargetMissed when a target is missed.
	FailOnMiss bool `json:"fail_on_miss"`
	// CPUProfile, when set, writes a CPU profile of every measured run to <CPUProfile without
	// .prof>-<scenario>.prof, and of its baseline to …-<scenario>-baseline.prof.
	CPUProfile string `json:"cpuprofile,omitempty"`
	// InfraCommand starts the infrastructure child process (embedded NATS and the simulated
	// Be-Mo API): the running binary with an argument that makes it call ServeInfra. Required.
	InfraCommand []string `json:"-"`
}

// Settings declares the harness's flags and environment variables.
func Settings() []config.Setting {
	return []config.Setting{
		{Name: "dir", Env: "BENCH_DIR", Default: ".data/bench", Usage: "work directory (ClickHouse data, NATS stores, logs); wiped first"},
		{Name: "report", Env: "BENCH_REPORT", Usage: "JSON report path (default <dir>/report.json)"},
		{Name: "scenarios", Env: "BENCH_SCENARIOS", Kind: config.List, Default: strings.Join(Scenarios(), ","), Usage: "scenarios to run: " + strings.Join(Scenarios(), ", ")},
		{Name: "sink-records", Env: "BENCH_SINK_RECORDS", Kind: config.Int, Usage: "events pre-loaded on EVENTS for the sink scenario (default 200000; --full 500000)"},
		{Name: "normalizer-records", Env: "BENCH_NORMALIZER_RECORDS", Kind: config.Int, Usage: "raw records pre-loaded on RAW for the normalizer scenario (default 100000; --full 500000)"},
		{Name: "poller-records", Env: "BENCH_POLLER_RECORDS", Kind: config.Int, Usage: "Be-Mo sessions the poller scenario fetches (default 500000)"},
		{Name: "e2e-records", Env: "BENCH_E2E_RECORDS", Kind: config.Int, Usage: "Be-Mo sessions of the end-to-end scenario (default 300000; --full 1000000)"},
		{Name: "scaling-records", Env: "BENCH_SCALING_RECORDS", Kind: config.Int, Usage: "raw records of the scaling check (default 100000; --full 200000)"},
		{Name: "mews-export-mb", Env: "BENCH_MEWS_EXPORT_MB", Kind: config.Int, Usage: "size in MiB of the Mews export the mews-export scenario streams (default 1024, the issue's 1 GB; --quick 4)"},
		{Name: "latency-rate", Env: "BENCH_LATENCY_RATE", Kind: config.Int, Usage: "records/s published in the steady-rate latency run (default 5000)"},
		{Name: "latency-duration", Env: "BENCH_LATENCY_DURATION", Kind: config.Duration, Usage: "length of the steady-rate latency run (default 30s)"},
		{Name: "latency-batch-age", Env: "BENCH_LATENCY_BATCH_AGE", Kind: config.Duration, Default: "250ms", Min: int64(time.Millisecond), Usage: "the sink's SINK_BATCH_AGE in the steady-rate latency run"},
		{Name: "repeat", Env: "BENCH_REPEAT", Kind: config.Int, Usage: "runs of each baseline and service (sink, normalizer, poller), alternately; the fastest counts (default 2, --quick 1)"},
		{Name: "quick", Env: "BENCH_QUICK", Kind: config.Bool, Default: "false", Usage: "small default volumes: a smoke run of a minute or two"},
		{Name: "full", Env: "BENCH_FULL", Kind: config.Bool, Default: "false", Usage: "the issue's volumes (500k events, 500k raw, 500k polled, 1M end to end, 200k scaling)"},
		{Name: "seed", Env: "BENCH_SEED", Kind: config.Int, Default: "1", Usage: "seed of the synthetic Be-Mo data"},
		{Name: "run-timeout", Env: "BENCH_RUN_TIMEOUT", Kind: config.Duration, Default: "15m", Min: int64(time.Second), Usage: "longest a measured run may take"},
		{Name: "fail-on-miss", Env: "BENCH_FAIL_ON_MISS", Kind: config.Bool, Default: "true", Usage: "exit 1 when a target is missed"},
		{Name: "cpuprofile", Env: "BENCH_CPUPROFILE", Usage: "write a CPU profile of each measured run to <path>-<scenario>.prof (baselines: <path>-<scenario>-baseline.prof)"},
	}
}

// ConfigFrom reads Settings from v.
func ConfigFrom(v config.Values) Config {
	return Config{
		Dir: v.String("dir"), Report: v.String("report"), Scenarios: v.List("scenarios"),
		SinkRecords: v.Int("sink-records"), NormalizerRecords: v.Int("normalizer-records"),
		PollerRecords: v.Int("poller-records"), E2ERecords: v.Int("e2e-records"),
		ScalingRecords: v.Int("scaling-records"), MewsExportMB: v.Int("mews-export-mb"), LatencyRate: v.Int("latency-rate"),
		LatencyDuration: v.Duration("latency-duration"), LatencyBatchAge: v.Duration("latency-batch-age"),
		Repeat: v.Int("repeat"), Quick: v.Bool("quick"), Full: v.Bool("full"),
		Seed: int64(v.Int("seed")), RunTimeout: v.Duration("run-timeout"),
		FailOnMiss: v.Bool("fail-on-miss"), CPUProfile: v.String("cpuprofile"),
	}
}

func (c *Config) setDefaults() {
	if c.Dir == "" {
		c.Dir = ".data/bench"
	}
	if c.Report == "" {
		c.Report = c.Dir + "/report.json"
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = Scenarios()
	}
	sinkN, normN, pollN, e2eN, scaleN, dur, repeat, mewsMB := 200_000, 100_000, 500_000, 300_000, 100_000, 30*time.Second, 2, 1024
	switch {
	case c.Quick:
		sinkN, normN, pollN, e2eN, scaleN, dur, repeat, mewsMB = 20_000, 20_000, 20_000, 50_000, 20_000, 5*time.Second, 1, 4
	case c.Full:
		sinkN, normN, pollN, e2eN, scaleN = 500_000, 500_000, 500_000, 1_000_000, 200_000
	}
	for _, f := range []struct {
		v   *int
		def int
	}{{&c.SinkRecords, sinkN}, {&c.NormalizerRecords, normN}, {&c.PollerRecords, pollN}, {&c.E2ERecords, e2eN}, {&c.ScalingRecords, scaleN}, {&c.MewsExportMB, mewsMB}, {&c.LatencyRate, 5000}, {&c.Repeat, repeat}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.LatencyDuration == 0 {
		c.LatencyDuration = dur
	}
	if c.LatencyBatchAge == 0 {
		c.LatencyBatchAge = 250 * time.Millisecond
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.RunTimeout == 0 {
		c.RunTimeout = 15 * time.Minute
	}
}

// Validate reports every invalid field; each error wraps config.ErrInvalid and names the setting.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(setting, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s %s", config.ErrInvalid, setting, fmt.Sprintf(format, a...)))
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(Scenarios(), s) {
			bad("--scenarios/BENCH_SCENARIOS", "names unknown scenario %q (known: %s)", s, strings.Join(Scenarios(), ", "))
		}
	}
	for _, f := range []struct {
		setting string
		n       int
	}{
		{"--sink-records/BENCH_SINK_RECORDS", c.SinkRecords}, {"--normalizer-records/BENCH_NORMALIZER_RECORDS", c.NormalizerRecords},
		{"--poller-records/BENCH_POLLER_RECORDS", c.PollerRecords}, {"--e2e-records/BENCH_E2E_RECORDS", c.E2ERecords},
		{"--scaling-records/BENCH_SCALING_RECORDS", c.ScalingRecords}, {"--latency-rate/BENCH_LATENCY_RATE", c.LatencyRate},
		{"--repeat/BENCH_REPEAT", c.Repeat}, {"--mews-export-mb/BENCH_MEWS_EXPORT_MB", c.MewsExportMB},
	} {
		if f.n < 1 {
			bad(f.setting, "must be ≥ 1, got %d", f.n)
		}
	}
	if c.Quick && c.Full {
		bad("--quick/BENCH_QUICK", "and --full/BENCH_FULL exclude each other")
	}
	if c.LatencyDuration < 100*time.Millisecond {
		bad("--latency-duration/BENCH_LATENCY_DURATION", "must be ≥ 100ms, got %s", c.LatencyDuration)
	}
	if len(c.InfraCommand) == 0 {
		errs = append(errs, errors.New("bench: Config.InfraCommand is missing"))
	}
	return errors.Join(errs...)
}

func (c Config) runs(scenario string) bool { return slices.Contains(c.Scenarios, scenario) }
