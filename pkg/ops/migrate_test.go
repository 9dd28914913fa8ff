package ops_test

import (
	"strings"
	"testing"

	"github.com/chargeline/chargeline/pkg/ops"
	"github.com/chargeline/chargeline/pkg/sink"
	"github.com/chargeline/chargeline/pkg/sink/clickhousetest"
)

func TestMigrateAppliesOnceAndListsVersions(t *testing.T) {
	ch := clickhousetest.Start(t)
	c := newCLI(map[string]string{"CLICKHOUSE_DSN": ch.DSN()})
	ms, err := sink.Migrations()
	if err != nil {
		t.Fatal(err)
	}

	var rep ops.MigrateReport
	c.json(t, ops.ExitOK, &rep, "migrate")
	if len(rep.Applied) != len(ms) || len(rep.Migrations) != len(ms) {
		t.Fatalf("first migrate = %+v, want all %d applied", rep, len(ms))
	}
	for i, m := range rep.Migrations {
		if m.Version != ms[i].Version || m.Name != ms[i].Name || m.Status != "applied now" {
			t.Errorf("migration %d = %+v", i, m)
		}
	}
	if n := ch.QueryUint64(t, "SELECT count() FROM system.tables WHERE database = 'chargeline' AND name = 'raw_records'"); n != 1 {
		t.Fatalf("raw_records exists %d times after migrate", n)
	}

	out := c.must(t, ops.ExitOK, "migrate").stdout
	t.Logf("chargectl migrate (second run):\n%s", out)
	if !strings.Contains(out, "0 migrations applied now") || strings.Count(out, "already applied") != len(ms) {
		t.Errorf("second migrate:\n%s", out)
	}
	if n := ch.QueryUint64(t, "SELECT count() FROM chargeline.schema_migrations FINAL"); n != uint64(len(ms)) {
		t.Errorf("schema_migrations holds %d versions, want %d", n, len(ms))
	}
}

func TestMigrateWithoutClickHouseFails(t *testing.T) {
	r := newCLI(map[string]string{"CLICKHOUSE_DSN": "clickhouse://127.0.0.1:1/chargeline"}).must(t, ops.ExitFailure, "migrate")
	if !strings.Contains(r.stderr, "chargectl migrate:") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
}
