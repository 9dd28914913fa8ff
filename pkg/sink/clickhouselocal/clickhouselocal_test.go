package clickhouselocal_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/chargeline/chargeline/pkg/sink/clickhouselocal"
)

func TestStartStopRestartKeepsData(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	p, err := clickhouselocal.Start(ctx, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	if p.TCPPort == 0 || !strings.HasSuffix(p.DSN(), "/chargeline") {
		t.Fatalf("port %d, DSN %s", p.TCPPort, p.DSN())
	}
	exec := func(q string) error {
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{p.Addr()}, DialTimeout: 5 * time.Second})
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Exec(ctx, q)
	}
	if err := exec("CREATE TABLE default.kept (x UInt8) ENGINE = TinyLog"); err != nil {
		t.Fatal(err)
	}
	port := p.TCPPort
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("server still answers after Stop")
	}
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if p.TCPPort != port {
		t.Errorf("port changed across Restart: %d → %d", port, p.TCPPort)
	}
	if err := exec("SELECT * FROM default.kept"); err != nil {
		t.Errorf("table lost across Restart: %v", err)
	}
	if err := p.Restart(ctx); err == nil {
		t.Error("Restart of a running server succeeded")
	}
}

func TestNotFoundSaysHowToInstall(t *testing.T) {
	if !strings.Contains(clickhouselocal.ErrNotFound.Error(), "apt-get install -y clickhouse-server") {
		t.Errorf("ErrNotFound = %q, want the install command", clickhouselocal.ErrNotFound)
	}
}

// TestClusterReplicates starts ZooKeeper and two replicas, creates a replicated table ON
// CLUSTER through one and reads the row on the other, then checks that the replicas refuse
// inserts while ZooKeeper is gone and take them again once it is back.
func TestClusterReplicates(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c, err := clickhouselocal.StartCluster(ctx, dir, "test_cluster", 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	if got := strings.Count(c.DSN(), ","); got != 1 {
		t.Errorf("DSN %s names %d hosts, want 2", c.DSN(), got+1)
	}
	conns := make([]clickhouse.Conn, 2)
	for i, addr := range c.Addrs() {
		conns[i], err = clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conns[i].Close() })
	}
	if err := conns[0].Exec(ctx, "CREATE TABLE default.r ON CLUSTER 'test_cluster' (x UInt8) "+
		"ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/default/r', '{replica}') ORDER BY x"); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "r1", "log", "clickhouse-server.err.log"))
		t.Fatalf("%v\n%s", err, b)
	}
	insert := func(conn clickhouse.Conn, x uint8) error {
		b, err := conn.PrepareBatch(ctx, "INSERT INTO default.r (x)")
		if err != nil {
			return err
		}
		if err := b.Append(x); err != nil {
			return err
		}
		return b.Send()
	}
	if err := insert(conns[0], 1); err != nil {
		t.Fatal(err)
	}
	count := func(conn clickhouse.Conn) uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM default.r").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := conns[1].Exec(ctx, "SYSTEM SYNC REPLICA default.r"); err != nil {
		t.Fatal(err)
	}
	if n := count(conns[1]); n != 1 {
		t.Fatalf("replica r2 holds %d rows, want the 1 inserted on r1", n)
	}

	if err := c.ZooKeeper.Kill(); err != nil {
		t.Fatal(err)
	}
	var refused error
	for range 100 { // the session ends within its timeout; until then an insert may still hang and fail
		if refused = insert(conns[1], 2); refused != nil {
			break
		}
	}
	if refused == nil {
		t.Fatal("inserts into a replicated table succeed without ZooKeeper")
	}
	t.Logf("without ZooKeeper: %v", refused)
	if err := c.ZooKeeper.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		err := insert(conns[1], 3)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("inserts still refused after ZooKeeper came back: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := conns[0].Exec(ctx, "SYSTEM SYNC REPLICA default.r"); err != nil {
		t.Fatal(err)
	}
	if n := count(conns[0]); n < 2 {
		t.Errorf("replica r1 holds %d rows after ZooKeeper came back, want the row inserted on r2", n)
	}
}

func TestZooKeeperNotFoundSaysHowToInstall(t *testing.T) {
	if !strings.Contains(clickhouselocal.ErrZooKeeperNotFound.Error(), "apt-get install -y zookeeper") {
		t.Errorf("ErrZooKeeperNotFound = %q, want the install command", clickhouselocal.ErrZooKeeperNotFound)
	}
}
