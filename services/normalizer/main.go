// Command normalizer maps raw provider records from the RAW stream to canonical events on
// EVENTS, dead-lettering what cannot be mapped (DESIGN.md §7).
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
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/service"
)

func main() {
	os.Exit(service.Main("normalizer", os.Args[1:], os.Stderr, settings(), run))
}

func settings() [][]config.Setting {
	return [][]config.Setting{bus.ConnSettings(), bus.TopologySettings(), normalize.Settings()}
}

func run(ctx context.Context, env service.Env) error {
	cfg := normalize.ConfigFrom(env.Values)
	cfg.Tracing = env.Tracing.TracerProvider()
	if err := cfg.Check(providers.All()); err != nil {
		return err // before connecting: a bad setting is reported as such
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nc, err := bus.Connect(cctx, bus.ConnFrom(env.Values, "chargeline-normalizer"), env.Logger)
	if err != nil {
		return err
	}
	// Drain last, once Run has settled every record: it flushes what is still buffered.
	defer func() {
		if err := bus.Drain(nc, 10*time.Second); err != nil {
			env.Logger.Warn("nats drain", slog.String("error", err.Error()))
		}
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("normalizer: jetstream: %w", err)
	}
	n, err := normalize.New(cfg, js, providers.All(), env.Logger, env.Registry)
	if err != nil {
		return err
	}
	lag, err := normalize.NewLagCollector(cfg, js, providers.All())
	if err != nil {
		return err
	}
	if err := env.Registry.Register(lag); err != nil {
		return fmt.Errorf("normalizer: register lag metrics: %w", err)
	}
	if err := bus.Provision(cctx, js, bus.TopologyFrom(env.Values)); err != nil {
		return err
	}
	env.Ready(func(ctx context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected to NATS")
		}
		return bus.CheckProvisioned(ctx, js)
	})
	return n.Run(ctx)
}
