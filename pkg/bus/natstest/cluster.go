package natstest

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/freeport"
)

// ClusterName is the NATS cluster StartCluster forms.
const ClusterName = "chargeline"

// Cluster is a running test NATS JetStream cluster: in-process servers n1…nN routed to each
// other, one store each, the chargeline topology provisioned with a replica on every server.
// A server can be shut down (a node loss) and restarted on its ports and store. Call its
// methods from the test's goroutine: they fail the test on error.
type Cluster struct {
	Servers []*server.Server // index i is server n<i+1>; nil while shut down
	// URL lists every server's client URL, comma-separated: what NATS_URL holds on a cluster.
	URL string
	NC  *nats.Conn // connected through URL, so it survives the loss of any one server
	JS  jetstream.JetStream

	t       testing.TB
	clients []int
	routes  []int
	dirs    []string
}

// StartCluster runs n JetStream servers on free loopback ports, each with its store in
// t.TempDir(), waits until they form the cluster, provisions the streams and buckets with n
// replicas (short lease TTL for tests) and stops everything when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartClusterWith(t, n, bus.Topology{LeaseTTL: 3 * time.Second, Replicas: n})
}

// StartClusterWith is StartCluster with a chosen topology.
func StartClusterWith(t testing.TB, n int, topo bus.Topology) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Servers: make([]*server.Server, n)}
	var urls []string
	for i := range n {
		c.clients = append(c.clients, freePort(t))
		c.routes = append(c.routes, freePort(t))
		c.dirs = append(c.dirs, t.TempDir())
		urls = append(urls, "nats://127.0.0.1:"+strconv.Itoa(c.clients[i]))
	}
	c.URL = strings.Join(urls, ",")
	t.Cleanup(func() {
		for i := range c.Servers {
			c.Shutdown(i)
		}
	})
	for i := range n {
		c.start(i)
	}
	nc, err := nats.Connect(c.URL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	if c.JS, err = jetstream.New(nc); err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	c.NC = nc
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// The meta leader is elected some moments after the routes are up; until then JetStream
	// requests fail or time out.
	err = retry(ctx, func(ctx context.Context) error { return bus.Provision(ctx, c.JS, topo) })
	if err != nil {
		t.Fatalf("natstest: provision the cluster: %v", err)
	}
	return c
}

// options are server i's options, the same at every start so a restart keeps its identity.
func (c *Cluster) options(i int) *server.Options {
	var routes []string
	for j, p := range c.routes {
		if j != i {
			routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(p))
		}
	}
	return &server.Options{
		ServerName: "n" + strconv.Itoa(i+1),
		Host:       "127.0.0.1",
		Port:       c.clients[i],
		JetStream:  true,
		StoreDir:   filepath.Join(c.dirs[i], "jetstream"),
		Cluster:    server.ClusterOpts{Name: ClusterName, Host: "127.0.0.1", Port: c.routes[i]},
		Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		NoSigs:     true,
		NoLog:      true,
	}
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	s, err := server.NewServer(c.options(i))
	if err != nil {
		c.t.Fatalf("natstest: server n%d: %v", i+1, err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		c.t.Fatalf("natstest: server n%d not ready after 30s", i+1)
	}
	c.Servers[i] = s
}

// Shutdown stops server i (a node loss: its clients reconnect to the others, its streams'
// replicas elect a new leader if it led them). Shutting down a stopped server does nothing.
func (c *Cluster) Shutdown(i int) {
	if s := c.Servers[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.Servers[i] = nil
	}
}

// Restart starts server i again on its ports and store; it catches up with the others.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Servers[i] != nil {
		c.t.Fatalf("natstest: restart n%d: still running", i+1)
	}
	c.start(i)
}

// StreamLeader returns the index of the server leading stream, waiting for an election.
func (c *Cluster) StreamLeader(stream string) int {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, s := range c.Servers {
			if s != nil && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("natstest: stream %s has no leader after 30s", stream)
	return -1
}

// WaitCurrent waits until every running server holds every stream up to date (a restarted one
// has caught up), or fails the test after a minute.
func (c *Cluster) WaitCurrent(streams ...string) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		current := true
		for _, s := range c.Servers {
			for _, st := range streams {
				if s != nil && !s.JetStreamIsStreamCurrent(server.DEFAULT_GLOBAL_ACCOUNT, st) {
					current = false
				}
			}
		}
		if current {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("natstest: streams %v not current on every server after a minute", streams)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// retry calls f until it succeeds or ctx ends, returning the last error then.
func retry(ctx context.Context, f func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Get()
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return port
}
