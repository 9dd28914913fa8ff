package clickhouselocal_test

import (
	"context"
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
