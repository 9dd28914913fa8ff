// Package devstack runs the whole pipeline in one process on its embedded defaults: NATS with
// JetStream in-process, a local clickhouse-server under a data directory, the provider
// simulators, a poller per provider, the normalizer and the sink. It is what `make run` starts,
// and what the end-to-end tests drive.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	"github.com/chargeline/chargeline/pkg/providers/simserver"
	"github.com/chargeline/chargeline/pkg/sink"
	"github.com/chargeline/chargeline/pkg/sink/clickhouselocal"
)

// Config configures a Stack. Zero values are the `make run` defaults.
type Config struct {
	Dir            string // data directory; default .data
	NATSPort       int    // default 4222; -1 = random
	ClickHousePort int    // 0 = a free port (the devstack command's default is 19000)
	SimAddr        string // default 127.0.0.1:8081; "127.0.0.1:0" = random
	Seed           int64
	Records        int // per provider; default 5000
	PollInterval   time.Duration
	Faults         sim.Faults
	Readings       sim.Readings
	// Fresh wipes Dir's NATS and ClickHouse data first, so a run's summary only counts its own
	// records.
	Fresh bool
	// Providers replaces providers.All() (tests steer a provider's clock this way).
	Providers []providers.Provider
	// Now is the simulators' clock; nil = time.Now.
	Now func() time.Time
	// Tracing, when set, traces the pollers (and their requests to the simulators), the
	// normalizer and the sink, as the services do with OTEL_* set (`make run` passes the
	// environment's). Nil: no tracing.
	Tracing trace.TracerProvider
}

// Settings declares devstack's settings.
func Settings() []config.Setting {
	return []config.Setting{
		{Name: "dir", Env: "DEVSTACK_DIR", Default: ".data", Usage: "data directory (NATS store, ClickHouse data, logs)"},
		{Name: "nats-port", Env: "DEVSTACK_NATS_PORT", Kind: config.Int, Default: "4222", Usage: "port of the embedded NATS server"},
		{Name: "clickhouse-port", Env: "DEVSTACK_CLICKHOUSE_PORT", Kind: config.Int, Default: "19000", Usage: "native port of the local clickhouse-server"},
		{Name: "sim-addr", Env: "DEVSTACK_SIM_ADDR", Default: "127.0.0.1:8081", Usage: "address of the provider simulators"},
		{Name: "seed", Env: "DEVSTACK_SEED", Kind: config.Int, Default: "1", Usage: "seed of the synthetic provider data"},
		{Name: "records", Env: "DEVSTACK_RECORDS", Kind: config.Int, Default: "5000", Min: 1, Usage: "records per provider"},
		{Name: "poll-interval", Env: "DEVSTACK_POLL_INTERVAL", Kind: config.Duration, Default: "5s", Min: int64(100 * time.Millisecond), Usage: "pause between polls of a scope"},
		{Name: "fresh", Env: "DEVSTACK_FRESH", Kind: config.Bool, Default: "true", Usage: "start from empty NATS and ClickHouse data"},
		{Name: "exit-when-done", Env: "DEVSTACK_EXIT_WHEN_DONE", Kind: config.Bool, Default: "false", Usage: "stop once every simulated record reached ClickHouse"},
	}
}

// ConfigFrom reads Settings from v.
func ConfigFrom(v config.Values) Config {
	return Config{
		Dir: v.String("dir"), NATSPort: v.Int("nats-port"), ClickHousePort: v.Int("clickhouse-port"),
		SimAddr: v.String("sim-addr"), Seed: int64(v.Int("seed")), Records: v.Int("records"),
		PollInterval: v.Duration("poll-interval"), Fresh: v.Bool("fresh"),
	}
}

func (c *Config) setDefaults() {
	if c.Dir == "" {
		c.Dir = ".data"
	}
	if c.NATSPort == 0 {
		c.NATSPort = 4222
	}
	if c.SimAddr == "" {
		c.SimAddr = "127.0.0.1:8081"
	}
	if c.Records <= 0 {
		c.Records = 5000
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.Providers == nil {
		c.Providers = providers.All()
	}
}

// Stack is a running pipeline.
type Stack struct {
	cfg        Config
	logger     *slog.Logger
	NATS       *server.Server
	NC         *nats.Conn
	JS         jetstream.JetStream
	ClickHouse *clickhouselocal.Process
	Sim        *simserver.Server
	SimAddr    string
	Sink       *sink.Sink

	stops []func() // in reverse start order
	once  sync.Once
}

// Start brings every part up. Stop must be called.
func Start(ctx context.Context, cfg Config, logger *slog.Logger) (_ *Stack, err error) {
	cfg.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Stack{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if cfg.Fresh {
		for _, d := range []string{"nats", "clickhouse"} {
			if err := os.RemoveAll(filepath.Join(cfg.Dir, d)); err != nil {
				return nil, fmt.Errorf("devstack: wipe %s: %w", d, err)
			}
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}

	if s.NATS, err = bus.RunEmbedded(filepath.Join(cfg.Dir, "nats"), "127.0.0.1", cfg.NATSPort); err != nil {
		return nil, fmt.Errorf("devstack: %w (is another NATS on port %d? set --nats-port)", err, cfg.NATSPort)
	}
	s.stops = append(s.stops, func() { s.NATS.Shutdown(); s.NATS.WaitForShutdown() })

	if s.ClickHouse, err = clickhouselocal.Start(ctx, filepath.Join(cfg.Dir, "clickhouse"), cfg.ClickHousePort); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	s.stops = append(s.stops, func() { _ = s.ClickHouse.Stop() })

	if s.NC, err = nats.Connect(s.NATS.ClientURL(), nats.MaxReconnects(-1)); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	s.stops = append(s.stops, func() { _ = s.NC.Drain() })
	if s.JS, err = jetstream.New(s.NC, jetstream.WithPublishAsyncMaxPending(pipeline.PollerConfig{}.MaxPending())); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	if err := bus.Provision(ctx, s.JS, bus.Topology{}); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}

	s.Sim, err = simserver.New(simserver.Config{
		Options:   sim.Options{Seed: cfg.Seed, Records: cfg.Records, Faults: cfg.Faults, Readings: cfg.Readings, Now: cfg.Now},
		Providers: cfg.Providers,
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.SimAddr)
	if err != nil {
		return nil, fmt.Errorf("devstack: simulators: %w (set --sim-addr)", err)
	}
	s.SimAddr = ln.Addr().String()
	s.goRun(ctx, "simulators", func(ctx context.Context) error { return s.Sim.Serve(ctx, ln) })
	return s, nil
}

// goRun runs a component until Stop; Stop cancels components in reverse start order and waits
// for each, so pollers stop before the normalizer and the normalizer before the sink.
func (s *Stack) goRun(ctx context.Context, name string, run func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.logger.Error("component stopped", slog.String("component", name), slog.String("error", err.Error()))
		}
	}()
	s.stops = append(s.stops, func() { cancel(); <-done })
}

// env is the pipeline.Env of one of the stack's components: its logs, no metrics, the stack's
// tracing.
func (s *Stack) env(component string) pipeline.Env {
	return pipeline.Env{Logger: s.logger.With(slog.String("component", component)), Tracing: s.cfg.Tracing}
}

// RunSink migrates ClickHouse and starts the sink.
func (s *Stack) RunSink(ctx context.Context, cfg sink.Config) error {
	cfg.DSN = s.ClickHouse.DSN()
	sk, err := pipeline.NewSink(ctx, cfg, s.JS, s.env("sink"))
	if err != nil {
		return err
	}
	s.Sink = sk
	s.stops = append(s.stops, func() { _ = sk.Close() })
	s.goRun(ctx, "sink", sk.Run)
	return nil
}

// RunNormalizer starts a normalizer for every provider.
func (s *Stack) RunNormalizer(ctx context.Context, cfg normalize.Config) error {
	n, err := pipeline.NewNormalizer(cfg, s.cfg.Providers, s.JS, s.env("normalizer"))
	if err != nil {
		return err
	}
	s.goRun(ctx, "normalizer", n.Run)
	return nil
}

// RunPollers starts a poller for every provider, configured against the simulators.
func (s *Stack) RunPollers(ctx context.Context) error {
	for _, p := range s.cfg.Providers {
		sched, err := s.Scheduler(ctx, p, poll.Config{Interval: s.cfg.PollInterval})
		if err != nil {
			return err
		}
		s.goRun(ctx, "poller-"+p.Name(), sched.Run)
	}
	return nil
}

// Scheduler builds a poller for p pointed at the simulators.
func (s *Stack) Scheduler(ctx context.Context, p providers.Provider, cfg poll.Config) (*poll.Scheduler, error) {
	pc, err := pipeline.SimPollerConfig(p, simserver.BaseURL(s.SimAddr, p.Name()))
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	pc.Poll = cfg
	sched, err := pipeline.NewPoller(ctx, pc, s.JS, s.env("poller"))
	if err != nil {
		return nil, fmt.Errorf("devstack: %s: %w", p.Name(), err)
	}
	return sched, nil
}

// Providers returns the providers the stack runs.
func (s *Stack) Providers() []providers.Provider { return s.cfg.Providers }

// Stop stops every part, newest first.
func (s *Stack) Stop() {
	s.once.Do(func() {
		for i := len(s.stops) - 1; i >= 0; i-- {
			s.stops[i]()
		}
		s.stops = nil
	})
}
