package pipeline

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/service"
	"github.com/chargeline/chargeline/pkg/sink"
)

// SinkSettings declares the sink service's settings.
func SinkSettings() [][]config.Setting {
	return [][]config.Setting{bus.ConnSettings(), bus.TopologySettings(), sink.Settings()}
}

// NewSink builds a sink on js, which must be provisioned, with its consumer-lag metrics when env
// has a registry, and applies the ClickHouse migrations (a no-op once applied). The caller closes
// it after Run.
func NewSink(ctx context.Context, cfg sink.Config, js jetstream.JetStream, env Env) (*sink.Sink, error) {
	if cfg.Tracing == nil {
		cfg.Tracing = env.Tracing
	}
	if err := env.register("sink lag metrics", bus.NewLagCollector(js, "sink", cfg.Consumers()...)); err != nil {
		return nil, err
	}
	s, err := sink.New(cfg, js, env.logger(), env.Registry)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// ServeSink is the sink service: SinkSettings from env, until ctx ends.
func ServeSink(ctx context.Context, env service.Env) error {
	cfg := sink.ConfigFrom(env.Values)
	if err := cfg.Validate(); err != nil {
		return err // before connecting: a bad setting is reported as such
	}
	senv := EnvOf(env)
	return serve(ctx, env, bus.ConnFrom(env.Values, "chargeline-sink"), 0,
		func(ctx context.Context, js jetstream.JetStream) (runner, error) { return NewSink(ctx, cfg, js, senv) })
}
