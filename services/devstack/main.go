// Command devstack is `make run`: the whole pipeline on its embedded defaults (NATS in-process,
// a local clickhouse-server under .data/, the provider simulators, a poller per provider, the
// normalizer and the sink), with progress, a summary, and commands to look at the result.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/devstack"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/service"
	"github.com/chargeline/chargeline/pkg/sink"
)

func main() {
	os.Exit(service.Main("devstack", os.Args[1:], os.Stderr, [][]config.Setting{devstack.Settings()}, run))
}

func run(ctx context.Context, env service.Env) error {
	cfg := devstack.ConfigFrom(env.Values)
	cfg.Tracing = env.Tracing.TracerProvider()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	// The services' own logs go to a file; the terminal shows progress.
	logPath := filepath.Join(cfg.Dir, "devstack.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	logger, _ := service.NewLogger(logFile, env.Values.String("log-level"), "json")

	out := os.Stdout
	fmt.Fprintf(out, "starting NATS, ClickHouse and the provider simulators in %s (logs: %s)…\n", cfg.Dir, logPath)
	started := time.Now()
	stack, err := devstack.Start(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "stopping: pollers, normalizer, sink, ClickHouse, NATS…")
		stack.Stop()
		fmt.Fprintln(out, "stopped.")
	}()
	if err := stack.RunSink(ctx, sink.Config{}); err != nil {
		return err
	}
	if err := stack.RunNormalizer(ctx, normalize.Config{}); err != nil {
		return err
	}
	if err := stack.RunPollers(ctx); err != nil {
		return err
	}
	env.Ready(func(context.Context) error { return nil })
	started = time.Now() // the rate counts the pipeline, not the servers starting
	fmt.Fprintf(out, "pipeline up: NATS %s, ClickHouse 127.0.0.1:%d, simulators http://%s\n", stack.NATS.ClientURL(), stack.ClickHouse.TCPPort, stack.SimAddr)

	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	summarised := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		c, err := stack.Counts(ctx)
		if err != nil {
			fmt.Fprintf(out, "progress unavailable: %v\n", err)
			continue
		}
		if summarised {
			continue
		}
		fmt.Fprintf(out, "%5.0fs  %s\n", time.Since(started).Seconds(), c.Progress())
		if c.Done() {
			stack.PrintSummary(out, c, time.Since(started).Seconds())
			summarised = true
			if env.Values.Bool("exit-when-done") {
				return nil
			}
			fmt.Fprintln(out, "\nthe pollers keep polling; Ctrl-C stops everything.")
		}
	}
}
