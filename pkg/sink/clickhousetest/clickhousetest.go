// Package clickhousetest starts a real clickhouse-server process for tests, the way
// net/http/httptest starts an HTTP server: free ports, a config and data directory in
// t.TempDir(), stopped when the test ends. A machine without the binary fails the test with
// the command that installs it; nothing is skipped.
package clickhousetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/chargeline/chargeline/pkg/sink/clickhouselocal"
)

// startTimeout bounds a start or restart; 18.16 answers after about two seconds.
const startTimeout = 60 * time.Second

// Server is a running test ClickHouse. Stop and Restart keep its ports and data, for outage
// tests. Call its methods from the test's goroutine: they fail the test on error.
type Server struct {
	*clickhouselocal.Process
	t    testing.TB
	conn driver.Conn // for the query helpers; reconnects by itself after Restart
}

// Start runs clickhouse-server on free loopback ports with its data in t.TempDir(), waits until
// it answers, and kills it (process group) when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	// Without the binary this fails with clickhouselocal.ErrNotFound: the apt-get line.
	p, err := clickhouselocal.Start(ctx, t.TempDir(), 0)
	if err != nil {
		t.Fatalf("clickhousetest: %v", err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	s := &Server{Process: p, t: t}
	s.conn = s.Conn(t)
	return s
}

// Port returns the native-protocol TCP port.
func (s *Server) Port() int { return s.TCPPort }

// Stop stops the server (SIGTERM, then SIGKILL) and waits for it to exit.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.Process.Stop(); err != nil {
		s.t.Fatalf("clickhousetest: stop: %v", err)
	}
}

// Restart starts the stopped server again on the same ports and data and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), startTimeout)
	defer cancel()
	if err := s.Process.Restart(ctx); err != nil {
		s.t.Fatalf("clickhousetest: restart: %v", err)
	}
}

// Freeze stops the server's processes (SIGSTOP) until Thaw or the end of the test: connections
// stay open and nothing answers.
func (s *Server) Freeze() {
	s.t.Helper()
	if err := s.Process.Freeze(); err != nil {
		s.t.Fatalf("clickhousetest: %v", err)
	}
	s.t.Cleanup(func() { _ = s.Process.Thaw() })
}

// Thaw continues a frozen server.
func (s *Server) Thaw() {
	s.t.Helper()
	if err := s.Process.Thaw(); err != nil {
		s.t.Fatalf("clickhousetest: %v", err)
	}
}

// Conn returns a clickhouse-go native connection to the server (default database), closed
// when the test ends.
func (s *Server) Conn(t testing.TB) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{s.Addr()},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("clickhousetest: open: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Exec runs statements, failing the test on error.
func (s *Server) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if err := s.conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("clickhousetest: %s: %v", q, err)
		}
	}
}

// QueryUint64 runs a query returning one number (count(), sum of an integer …) and returns it
// converted to uint64, failing the test on error.
func (s *Server) QueryUint64(t testing.TB, query string) uint64 {
	t.Helper()
	n, err := s.TryQueryUint64(t.Context(), query)
	if err != nil {
		t.Fatalf("clickhousetest: %s: %v", query, err)
	}
	return n
}

// TryQueryUint64 is QueryUint64 returning the error, for polling while the server or the
// table may not be there yet.
func (s *Server) TryQueryUint64(ctx context.Context, query string) (uint64, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT toUInt64(("+query+"))").Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", query, err)
	}
	return n, nil
}

// QueryStrings runs a query returning one String column (wrap others in toString) and returns
// its values in order.
func (s *Server) QueryStrings(t testing.TB, query string) []string {
	t.Helper()
	rows, err := s.conn.Query(t.Context(), query)
	if err != nil {
		t.Fatalf("clickhousetest: %s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("clickhousetest: %s: %v", query, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("clickhousetest: %s: %v", query, err)
	}
	return out
}

// ClusterName is the remote_servers entry StartCluster's replicas share: what the sink's
// CLICKHOUSE_CLUSTER names.
const ClusterName = "chargeline_test"

// Cluster is a running test ClickHouse cluster: one shard of replicas coordinated by a
// ZooKeeper (Debian's zookeeper package). Each replica is a Server of its own (Stop, Restart,
// Kill, queries); ZooKeeper can be stopped and restarted on its data.
type Cluster struct {
	*clickhouselocal.Cluster
	Replicas []*Server
	t        testing.TB
}

// StartCluster runs ZooKeeper and n clickhouse-server replicas of ClusterName on free loopback
// ports with their data in t.TempDir(), waits until all answer, and kills them when the test
// ends. Without clickhouse-server or zookeeper it fails with the command that installs it.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*startTimeout)
	defer cancel()
	c, err := clickhouselocal.StartCluster(ctx, t.TempDir(), ClusterName, n)
	if err != nil {
		t.Fatalf("clickhousetest: %v", err)
	}
	t.Cleanup(c.Kill)
	tc := &Cluster{Cluster: c, t: t}
	for _, p := range c.Replicas {
		s := &Server{Process: p, t: t}
		s.conn = s.Conn(t)
		tc.Replicas = append(tc.Replicas, s)
	}
	return tc
}

// KillKeeper ends ZooKeeper at once (SIGKILL); the replicas' tables turn read-only once their
// sessions time out.
func (c *Cluster) KillKeeper() {
	c.t.Helper()
	if err := c.ZooKeeper.Kill(); err != nil {
		c.t.Fatalf("clickhousetest: kill zookeeper: %v", err)
	}
}

// RestartKeeper starts ZooKeeper again on its port and data and waits until it answers.
func (c *Cluster) RestartKeeper() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), startTimeout)
	defer cancel()
	if err := c.ZooKeeper.Restart(ctx); err != nil {
		c.t.Fatalf("clickhousetest: restart zookeeper: %v", err)
	}
}

// Kill ends the server at once (SIGKILL), the way a crash would; Restart starts it again.
func (s *Server) Kill() {
	s.t.Helper()
	if err := s.Process.Kill(); err != nil {
		s.t.Fatalf("clickhousetest: kill: %v", err)
	}
}
