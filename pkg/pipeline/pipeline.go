// Package pipeline builds chargeline's components — a provider's poller, the normalizer and the
// sink — from their configuration, the one way every place that runs them does: a service's main
// calls Serve{Poller,Normalizer,Sink}, which connects, provisions, builds, reports readiness and
// runs; devstack, the benchmark harness and the tests call New{Poller,Normalizer,Sink} on a
// JetStream connection of their own. A setting added to a component goes into its config struct
// and its Settings; nothing here or in a harness changes.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/service"
)

// Env is what a component takes from the process it runs in. The zero Env logs nothing, exports
// no metrics and traces nothing.
type Env struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer // nil: no metrics
	Tracing  trace.TracerProvider  // nil: no tracing, unless the component's config names one
}

// EnvOf is the Env of a service: its logger, registry and OTEL_* tracing.
func EnvOf(env service.Env) Env {
	return Env{Logger: env.Logger, Registry: env.Registry, Tracing: env.Tracing.TracerProvider()}
}

func (e Env) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

// register adds c to the registry, if there is one.
func (e Env) register(what string, c prometheus.Collector) error {
	if e.Registry == nil {
		return nil
	}
	if err := e.Registry.Register(c); err != nil {
		return fmt.Errorf("register %s: %w", what, err)
	}
	return nil
}

// Conn is a NATS connection and the JetStream context a component publishes and consumes with.
type Conn struct {
	NC *nats.Conn
	JS jetstream.JetStream
}

// connectTimeout bounds dialling NATS at start: a server that accepts and then says nothing must
// not hold a start forever.
const connectTimeout = 30 * time.Second

// Connect dials NATS as every component does (bus.Connect: reconnecting forever once
// connected). maxPending > 0 bounds the asynchronous publishes awaiting their PubAck (a poller's:
// PollerConfig.MaxPending).
func Connect(ctx context.Context, c bus.ConnConfig, logger *slog.Logger, maxPending int) (Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	nc, err := bus.Connect(cctx, c, logger)
	if err != nil {
		return Conn{}, err
	}
	var opts []jetstream.JetStreamOpt
	if maxPending > 0 {
		opts = append(opts, jetstream.WithPublishAsyncMaxPending(maxPending))
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		return Conn{}, fmt.Errorf("jetstream: %w", err)
	}
	return Conn{NC: nc, JS: js}, nil
}

// runner is a built component.
type runner interface {
	Run(ctx context.Context) error
}

// drainTimeout bounds delivering a connection's last acknowledgements at stop.
const drainTimeout = 10 * time.Second

// serve runs one component the way its service does: connect to NATS, provision the topology,
// build the component, answer /readyz (connected, provisioned, and the component's own Ping if
// it has one), run until ctx ends, then drain the connection — it delivers the acknowledgements
// Run's last flush produced — and close the component (a sink's ClickHouse pool).
func serve(ctx context.Context, env service.Env, c bus.ConnConfig, maxPending int, build func(ctx context.Context, js jetstream.JetStream) (runner, error)) error {
	conn, err := Connect(ctx, c, env.Logger, maxPending)
	if err != nil {
		return err
	}
	drain := func() {
		if err := bus.Drain(conn.NC, drainTimeout); err != nil {
			env.Logger.Warn("nats drain", slog.String("error", err.Error()))
		}
	}
	if err := bus.Provision(ctx, conn.JS, bus.TopologyFrom(env.Values)); err != nil {
		drain()
		return err
	}
	r, err := build(ctx, conn.JS)
	if err != nil {
		drain()
		return err
	}
	if cl, ok := r.(io.Closer); ok {
		// Deferred before the drain's call below returns: a Closer closes after the drain.
		defer func() {
			if err := cl.Close(); err != nil {
				env.Logger.Warn("close", slog.String("error", err.Error()))
			}
		}()
	}
	pinger, _ := r.(interface{ Ping(context.Context) error })
	env.Ready(func(ctx context.Context) error {
		if !conn.NC.IsConnected() {
			return errors.New("not connected to NATS")
		}
		if err := bus.CheckProvisioned(ctx, conn.JS); err != nil {
			return err
		}
		if pinger != nil {
			return pinger.Ping(ctx)
		}
		return nil
	})
	runErr := r.Run(ctx)
	drain()
	return runErr
}
