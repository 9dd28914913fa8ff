// Package natstest starts an in-process NATS server with JetStream for tests, the way
// net/http/httptest starts an HTTP server.
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
)

// Server is a running test NATS server with the chargeline topology provisioned.
type Server struct {
	*server.Server
	URL string
	NC  *nats.Conn
	JS  jetstream.JetStream
}

// Start runs nats-server with JetStream on a random port and a temporary store, provisions the
// streams and buckets (short lease TTL for tests), and stops everything when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, bus.Topology{LeaseTTL: 3 * time.Second})
}

// StartWith is Start with a chosen topology.
func StartWith(t testing.TB, topo bus.Topology) *Server {
	t.Helper()
	ns, err := bus.RunEmbedded(t.TempDir(), "127.0.0.1", -1)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, js, topo); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return &Server{Server: ns, URL: ns.ClientURL(), NC: nc, JS: js}
}
