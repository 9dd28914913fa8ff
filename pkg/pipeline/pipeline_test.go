package pipeline

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/service"
)

// fakeComponent runs until its context ends and records what serve did around it.
type fakeComponent struct {
	ping      error
	nc        *nats.Conn
	ran       atomic.Bool
	closed    atomic.Bool
	connAtEnd nats.Status // the connection's status when Close was called
}

func (f *fakeComponent) Run(ctx context.Context) error {
	f.ran.Store(true)
	<-ctx.Done()
	return ctx.Err()
}
func (f *fakeComponent) Ping(context.Context) error { return f.ping }
func (f *fakeComponent) Close() error {
	if f.closed.CompareAndSwap(false, true) {
		f.connAtEnd = f.nc.Status()
	}
	return nil
}

func serviceEnv(t *testing.T, natsURL string, ready func(func(context.Context) error)) service.Env {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	v, err := config.Load(fs, []string{"--nats-url", natsURL}, func(string) string { return "" }, bus.ConnSettings(), bus.TopologySettings())
	if err != nil {
		t.Fatal(err)
	}
	return service.Env{Values: v, Logger: slog.New(slog.DiscardHandler), Ready: ready}
}

// TestServeProvisionsReportsReadinessAndClosesAfterTheDrain: what every service relies on —
// the topology exists before the component is built, /readyz asks the component's own Ping,
// and a component's Close (the sink's ClickHouse pool) comes after the NATS connection drained,
// so the last acknowledgements were delivered while the component could still be asked.
func TestServeProvisionsReportsReadinessAndClosesAfterTheDrain(t *testing.T) {
	ns := natstest.StartWith(t, bus.Topology{})
	if err := ns.JS.DeleteStream(t.Context(), bus.StreamRaw); err != nil {
		t.Fatal(err)
	}
	ready := make(chan func(context.Context) error, 1)
	env := serviceEnv(t, ns.URL, func(f func(context.Context) error) { ready <- f })
	comp := &fakeComponent{ping: errors.New("clickhouse: connection refused")}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, env, bus.ConnFrom(env.Values, "test"), 0, func(_ context.Context, js jetstream.JetStream) (runner, error) {
			if _, err := js.Stream(ctx, bus.StreamRaw); err != nil {
				return nil, errors.New("built before the topology was provisioned: " + err.Error())
			}
			comp.nc = js.Conn()
			return comp, nil
		})
	}()
	var check func(context.Context) error
	select {
	case check = <-ready:
	case err := <-done:
		t.Fatalf("serve ended before reporting readiness: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not report readiness")
	}
	if err := check(t.Context()); err == nil || err.Error() != comp.ping.Error() {
		t.Errorf("readiness with a failing Ping = %v, want the Ping's error", err)
	}
	comp.ping = nil
	if err := check(t.Context()); err != nil {
		t.Errorf("readiness when connected, provisioned and pinged = %v, want nil", err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("serve returned %v, want the Run's context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return after its context ended")
	}
	if !comp.ran.Load() || !comp.closed.Load() {
		t.Fatalf("ran %v, closed %v: want both", comp.ran.Load(), comp.closed.Load())
	}
	if comp.connAtEnd != nats.CLOSED {
		t.Errorf("connection %v when the component was closed, want CLOSED (drained first)", comp.connAtEnd)
	}
}

// TestServeWithoutNATSFailsNamingTheServer: a start with no NATS ends with an error naming
// where it tried, not a hang.
func TestServeWithoutNATSFailsNamingTheServer(t *testing.T) {
	env := serviceEnv(t, "nats://127.0.0.1:1", func(func(context.Context) error) {})
	err := serve(t.Context(), env, bus.ConnFrom(env.Values, "test"), 0, func(context.Context, jetstream.JetStream) (runner, error) {
		t.Error("built without a connection")
		return nil, nil
	})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("serve without NATS = %v, want an error naming nats://127.0.0.1:1", err)
	}
}
