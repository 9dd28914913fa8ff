package pipeline

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/service"
)

// NormalizerSettings declares the normalizer service's settings.
func NormalizerSettings() [][]config.Setting {
	return [][]config.Setting{bus.ConnSettings(), bus.TopologySettings(), normalize.Settings()}
}

// NewNormalizer builds a normalizer of the providers known on js, which must be provisioned,
// with its consumer-lag metrics when env has a registry.
func NewNormalizer(cfg normalize.Config, known []providers.Provider, js jetstream.JetStream, env Env) (*normalize.Normalizer, error) {
	if cfg.Tracing == nil {
		cfg.Tracing = env.Tracing
	}
	n, err := normalize.New(cfg, js, known, env.logger(), env.Registry)
	if err != nil {
		return nil, err
	}
	if env.Registry != nil {
		lag, err := normalize.NewLagCollector(cfg, js, known)
		if err != nil {
			return nil, err
		}
		if err := env.register("normalizer lag metrics", lag); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// ServeNormalizer is the normalizer service: NormalizerSettings from env, every provider, until
// ctx ends.
func ServeNormalizer(ctx context.Context, env service.Env) error {
	cfg := normalize.ConfigFrom(env.Values)
	known := providers.All()
	if err := cfg.Check(known); err != nil {
		return err // before connecting: a bad setting is reported as such
	}
	nenv := EnvOf(env)
	return serve(ctx, env, bus.ConnFrom(env.Values, "chargeline-normalizer"), 0,
		func(_ context.Context, js jetstream.JetStream) (runner, error) {
			return NewNormalizer(cfg, known, js, nenv)
		})
}
