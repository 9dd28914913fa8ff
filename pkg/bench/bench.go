package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/service"
	"github.com/chargeline/chargeline/pkg/sink"
	"github.com/chargeline/chargeline/pkg/sink/clickhouselocal"
)

// Run starts a local clickhouse-server under cfg.Dir, runs the scenarios one after the other,
// each on a fresh NATS and empty tables, prints progress and the table to out, writes the JSON
// report, and returns it. It returns ErrNotExact when a scenario's rows were not exactly its
// records, and ErrTargetMissed when cfg.FailOnMiss is set and a target was missed; the report
// is written in both cases.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("bench: wipe %s: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	logPath := filepath.Join(cfg.Dir, "bench.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer logf.Close()
	h := &harness{cfg: cfg, logw: logf, out: out, logger: slog.New(slog.NewJSONHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn}))}

	fmt.Fprintf(out, "bench: starting clickhouse-server in %s (service logs: %s)\n", cfg.Dir, logPath)
	if h.ch, err = clickhouselocal.Start(ctx, filepath.Join(cfg.Dir, "clickhouse"), 0); err != nil {
		return nil, err
	}
	defer func() { _ = h.ch.Stop() }()
	if h.conn, err = sink.Open(sink.Config{DSN: h.ch.DSN()}); err != nil {
		return nil, err
	}
	defer h.conn.Close()
	var version string
	if err := h.conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		return nil, fmt.Errorf("bench: clickhouse: %w", err)
	}

	rep := newReport(cfg, version)
	started := time.Now()
	baselines := map[string]Result{}
	services := map[string]Result{} // the last service row of each scenario
	// gc is the collector's target (GOGC) a scenario runs at: its service's default, so that
	// CPU and memory are what the service's own binary spends; baseline and service share it.
	// End to end keeps Go's 100 (the sink's and the poller's), which overstates the normalizer's
	// share rather than understate the others'. GOGC in the environment overrides them all.
	scenarios := []struct {
		name string
		fn   func(ctx context.Context) ([]Result, error)
		gc   int
	}{
		// First: its bound is the poller's whole peak RSS, and the runtime keeps the heap
		// metadata and stacks that earlier scenarios grew resident after they end (97 MB
		// measured after latency, 42 MB first).
		{name: ScenarioMewsExport, fn: h.mewsExportScenario},
		{name: ScenarioSink, fn: h.sinkScenario},
		{name: ScenarioNormalizer, fn: h.normalizerScenario, gc: normalize.GCPercent},
		{name: ScenarioPoller, fn: h.pollerScenario},
		{name: ScenarioE2E, fn: func(ctx context.Context) ([]Result, error) { return h.e2eScenario(ctx, baselines) }},
		{name: ScenarioE2ECluster, fn: func(ctx context.Context) ([]Result, error) { return h.e2eClusterScenario(ctx, services[ScenarioE2E]) }},
		{name: ScenarioE2ETraced, fn: func(ctx context.Context) ([]Result, error) { return h.e2eTracedScenario(ctx, services[ScenarioE2E]) }},
		{name: ScenarioLatency, fn: h.latencyScenario},
		{name: ScenarioScaling, fn: h.scalingScenario},
	}
	var runErrs []error
	for _, s := range scenarios {
		if !cfg.runs(s.name) || ctx.Err() != nil {
			continue
		}
		gc := s.gc
		if gc == 0 {
			gc = 100
		}
		gc = service.DefaultGCPercent(gc)
		fmt.Fprintf(out, "%s (GOGC=%d):\n", s.name, gc)
		rs, err := s.fn(ctx)
		if err != nil {
			// The other scenarios still run: their figures stand on their own.
			fmt.Fprintf(out, "  failed: %v\n", err)
			runErrs = append(runErrs, fmt.Errorf("bench: scenario %s: %w", s.name, err))
			rep.Failed = append(rep.Failed, s.name+": "+err.Error())
			continue
		}
		for i := range rs {
			rs[i].GCPercent = gc
		}
		for _, r := range rs {
			if r.Baseline {
				// A scenario's first baseline is its bare loop, what end to end puts in series;
				// one after it is a ceiling of part of the work (the sink's insert-only ceiling).
				if _, ok := baselines[r.Scenario]; !ok {
					baselines[r.Scenario] = r
				}
			} else {
				services[r.Scenario] = r
			}
		}
		rep.add(rs...)
	}
	rep.Seconds = round(time.Since(started).Seconds(), 1)
	runErr := errors.Join(runErrs...)
	fmt.Fprintln(out)
	rep.Table(out)
	if err := rep.write(cfg.Report); err != nil {
		return rep, errors.Join(runErr, err)
	}
	fmt.Fprintf(out, "\nreport: %s\n", cfg.Report)
	switch {
	case runErr != nil:
		return rep, runErr
	case len(rep.Inexact) > 0:
		return rep, fmt.Errorf("%w: %v", ErrNotExact, rep.Inexact)
	case len(rep.Missed) > 0 && cfg.FailOnMiss:
		return rep, fmt.Errorf("%w: %v", ErrTargetMissed, rep.Missed)
	}
	return rep, nil
}
