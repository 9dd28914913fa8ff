package pipeline

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/service"
)

// DefaultHTTPTimeout bounds one provider API request (POLLER_HTTP_TIMEOUT).
const DefaultHTTPTimeout = 30 * time.Second

// PollerConfig configures one provider's poller.
type PollerConfig struct {
	Provider providers.Provider
	// Source holds the provider's own settings (its Settings(): credentials, base URL, page
	// size), validated by the provider's NewSource.
	Source config.Values
	// HTTPTimeout bounds one provider API request; 0 = DefaultHTTPTimeout.
	HTTPTimeout time.Duration
	// Poll is the scheduler's configuration; its Provider is set from Provider.
	Poll poll.Config
}

// MaxPending is how many asynchronous publishes may await their PubAck on the poller's
// connection: room for four publish windows, so that one scope's window never blocks on
// another's.
func (c PollerConfig) MaxPending() int {
	if c.Poll.Window <= 0 {
		return 4 * poll.DefaultWindow
	}
	return 4 * c.Poll.Window
}

// PollerSettings declares the poller service's settings and those of every provider: the
// provider is chosen by --provider, but its credentials must be declared before flags are parsed.
func PollerSettings() [][]config.Setting {
	s := [][]config.Setting{bus.ConnSettings(), bus.TopologySettings(), poll.Settings(), {
		{Name: "http-timeout", Env: "POLLER_HTTP_TIMEOUT", Kind: config.Duration, Default: DefaultHTTPTimeout.String(), Min: int64(time.Second), Usage: "timeout of one provider API request"},
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

// PollerConfigFrom reads PollerSettings from v.
func PollerConfigFrom(v config.Values) (PollerConfig, error) {
	p, err := providers.Lookup(v.String("provider"))
	if err != nil {
		return PollerConfig{}, v.Invalid("provider", "%v", err)
	}
	return PollerConfig{Provider: p, Source: v, HTTPTimeout: v.Duration("http-timeout"), Poll: poll.ConfigFrom(v)}, nil
}

// SimPollerConfig is the configuration of a poller of p against p's simulator at baseURL: the
// provider settings its SimEnv gives, every other setting at its default.
func SimPollerConfig(p providers.Provider, baseURL string) (PollerConfig, error) {
	env := p.SimEnv(baseURL)
	v, err := config.Load(flag.NewFlagSet(p.Name(), flag.ContinueOnError), nil, func(k string) string { return env[k] }, p.Settings())
	if err != nil {
		return PollerConfig{}, fmt.Errorf("%s settings: %w", p.Name(), err)
	}
	return PollerConfig{Provider: p, Source: v}, nil
}

// NewPoller builds a poller on js, which must be provisioned (bus.Provision): the provider's
// source on the poller's HTTP client (a span and metrics per request), and the scheduler.
func NewPoller(ctx context.Context, cfg PollerConfig, js jetstream.JetStream, env Env) (*poll.Scheduler, error) {
	src, cfg, err := newSource(cfg, env)
	if err != nil {
		return nil, err
	}
	return poll.NewScheduler(ctx, cfg.Poll, src, js, env.logger(), env.Registry)
}

// newSource builds the provider's source, which validates the provider's settings, and returns
// cfg with its defaults.
func newSource(cfg PollerConfig, env Env) (poll.Source, PollerConfig, error) {
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = DefaultHTTPTimeout
	}
	if cfg.Poll.Tracing == nil {
		cfg.Poll.Tracing = env.Tracing
	}
	cfg.Poll.Provider = cfg.Provider.Name()
	src, err := cfg.Provider.NewSource(cfg.Source, poll.NewHTTPClient(cfg.HTTPTimeout, cfg.Provider.Name(), env.Registry, cfg.Poll.Tracing))
	return src, cfg, err
}

// ServePoller is the poller service: PollerSettings from env, until ctx ends.
func ServePoller(ctx context.Context, env service.Env) error {
	cfg, err := PollerConfigFrom(env.Values)
	if err != nil {
		return err
	}
	penv := EnvOf(env)
	// Before connecting: a missing credential is reported as the configuration error it is.
	src, cfg, err := newSource(cfg, penv)
	if err != nil {
		return err
	}
	return serve(ctx, env, bus.ConnFrom(env.Values, "chargeline-poller-"+cfg.Provider.Name()), cfg.MaxPending(),
		func(ctx context.Context, js jetstream.JetStream) (runner, error) {
			return poll.NewScheduler(ctx, cfg.Poll, src, js, penv.logger(), penv.Registry)
		})
}
