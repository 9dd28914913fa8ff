// Command sink consumes canonical events (EVENTS) and raw records (RAW) from NATS JetStream and
// inserts them into ClickHouse in batches, acknowledging each message only after its row is
// inserted. It applies the ClickHouse migrations at start. See pkg/sink.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/service"
	"github.com/chargeline/chargeline/pkg/sink"
)

func main() {
	os.Exit(service.Main("sink", os.Args[1:], os.Stderr,
		[][]config.Setting{bus.ConnSettings(), bus.TopologySettings(), sink.Settings()}, run))
}

func run(ctx context.Context, env service.Env) error {
	cfg := sink.ConfigFrom(env.Values)
	cfg.Tracing = env.Tracing.TracerProvider()
	if err := cfg.Validate(); err != nil {
		return err
	}
	nc, err := bus.Connect(ctx, bus.ConnFrom(env.Values, "chargeline-sink"), env.Logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("sink: jetstream: %w", err)
	}
	if err := bus.Provision(ctx, js, bus.TopologyFrom(env.Values)); err != nil {
		return err
	}
	if err := env.Registry.Register(bus.NewLagCollector(js, "sink", cfg.Consumers()...)); err != nil {
		return fmt.Errorf("sink: register lag metrics: %w", err)
	}
	s, err := sink.New(cfg, js, env.Logger, env.Registry)
	if err != nil {
		return err
	}
	defer s.Close() // after NATS is drained: the deferred calls run in reverse order
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	env.Ready(func(ctx context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected to NATS")
		}
		if err := bus.CheckProvisioned(ctx, js); err != nil {
			return err
		}
		return s.Ping(ctx)
	})
	runErr := s.Run(ctx)
	// Run has flushed and acknowledged; Drain delivers the last acknowledgements.
	if err := bus.Drain(nc, 10*time.Second); err != nil {
		env.Logger.Warn("nats drain", slog.String("error", err.Error()))
	}
	return runErr
}
