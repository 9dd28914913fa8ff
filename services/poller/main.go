// Command poller polls one provider's API and publishes every record, unchanged, to
// raw.<provider>.<resource> on JetStream, with a checkpoint and a lease per scope.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/service"
)

func main() {
	os.Exit(service.Main("poller", os.Args[1:], os.Stderr, settings(), run))
}

// settings declares the poller's own settings and those of every provider: the provider is
// chosen by --provider, but its credentials must be declared before flags are parsed.
func settings() [][]config.Setting {
	s := [][]config.Setting{bus.ConnSettings(), bus.TopologySettings(), poll.Settings(), {
		{Name: "http-timeout", Env: "POLLER_HTTP_TIMEOUT", Kind: config.Duration, Default: "30s", Min: int64(time.Second), Usage: "timeout of one provider API request"},
	}}
	for _, p := range providers.All() {
		s = append(s, optional(p.Settings()))
	}
	return s
}

// optional relaxes Required on provider settings: only the chosen provider's are checked, by
// its NewSource.
func optional(in []config.Setting) []config.Setting {
	out := slices.Clone(in)
	for i := range out {
		out[i].Required = false
	}
	return out
}

func run(ctx context.Context, env service.Env) error {
	p, err := providers.Lookup(env.Values.String("provider"))
	if err != nil {
		return env.Values.Invalid("provider", "%v", err)
	}
	hc := poll.NewHTTPClient(env.Values.Duration("http-timeout"), p.Name(), env.Registry, env.Tracing.TracerProvider())
	src, err := p.NewSource(env.Values, hc)
	if err != nil {
		return err
	}
	nc, err := bus.Connect(ctx, bus.ConnFrom(env.Values, "chargeline-poller-"+p.Name()), env.Logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := bus.Drain(nc, 10*time.Second); err != nil {
			env.Logger.Warn("nats drain", slog.String("error", err.Error()))
		}
	}()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4*env.Values.Int("publish-window")))
	if err != nil {
		return err
	}
	if err := bus.Provision(ctx, js, bus.TopologyFrom(env.Values)); err != nil {
		return err
	}
	cfg := poll.ConfigFrom(env.Values)
	cfg.Tracing = env.Tracing.TracerProvider()
	sched, err := poll.NewScheduler(ctx, cfg, src, js, env.Logger, env.Registry)
	if err != nil {
		return err
	}
	env.Ready(func(ctx context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected to NATS")
		}
		return bus.CheckProvisioned(ctx, js)
	})
	return sched.Run(ctx)
}
