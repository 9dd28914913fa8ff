package sink

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/sink/clickhousetest"
)

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	t.Parallel()
	ch := clickhousetest.Start(t)
	cfg := Config{DSN: ch.DSN()}
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}

	// Several sinks starting together: every Migrate succeeds.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			conn, err := Open(cfg)
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Close()
			_, errs[i] = Migrate(t.Context(), conn, nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate %d: %v", i, err)
		}
	}
	if got := ch.QueryUint64(t, "SELECT uniqExact(version) FROM chargeline.schema_migrations"); got != uint64(len(ms)) {
		t.Errorf("schema_migrations lists %d versions, want %d", got, len(ms))
	}

	// Once more: nothing left to apply.
	conn, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	applied, err := Migrate(t.Context(), conn, nil)
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("second Migrate applied %v, want nothing", applied)
	}
	for _, table := range []string{TableChargingSessions, TableInvoices, TableCostCenters, TableRawRecords,
		"charging_sessions_current", "charging_sessions_daily", "invoices_current", "cost_centers_current"} {
		if n := ch.QueryUint64(t, "SELECT count() FROM system.tables WHERE database = 'chargeline' AND name = '"+table+"'"); n != 1 {
			t.Errorf("table %s missing after Migrate", table)
		}
	}

	// The decoders fill exactly the tables' columns (inserted_at has its default).
	samples := map[string]source{
		TableChargingSessions: {subject: "events.charging_session.v1.bemo", header: nats.Header{events.HeaderID: {"e1"}}, data: []byte(`{"id":"bemo:1","provider":"bemo"}`)},
		TableInvoices:         {subject: "events.invoice.v1.pip", header: nats.Header{events.HeaderID: {"e2"}}, data: []byte(`{"id":"pip:1","provider":"pip"}`)},
		TableCostCenters:      {subject: "events.cost_center.v1.inpost", header: nats.Header{events.HeaderID: {"e3"}}, data: []byte(`{"id":"inpost:1","provider":"inpost"}`)},
		TableRawRecords:       {subject: "raw.bemo.sessions", header: nats.Header{events.HeaderID: {"r1"}}, data: []byte(`{}`), stored: time.Now()},
	}
	for table, src := range samples {
		r, err := decode(src)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		got := slices.Sorted(slices.Values(r.cols))
		want := ch.QueryStrings(t, "SELECT name FROM system.columns WHERE database = 'chargeline' AND table = '"+table+"' AND name != 'inserted_at' ORDER BY name")
		if !slices.Equal(got, want) {
			t.Errorf("%s: decoder fills %v\ntable has %v", table, got, want)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	sql := "-- header; with a semicolon\nCREATE TABLE a (s String DEFAULT 'x;y') ENGINE = Memory; -- trailing\n\n" +
		"CREATE VIEW v AS SELECT '--not a comment' AS c;\n  ;\n-- only a comment\n"
	got := splitStatements(sql)
	want := []string{"CREATE TABLE a (s String DEFAULT 'x;y') ENGINE = Memory", "CREATE VIEW v AS SELECT '--not a comment' AS c"}
	if len(got) != len(want) {
		t.Fatalf("splitStatements = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statement %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestMigrationsAreOrderedAndAvoid1816Gaps(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.Version != uint32(i+1) {
			t.Errorf("migration %s has version %d, want %d (no gaps)", m.Name, m.Version, i+1)
		}
		for _, stmt := range m.Statements {
			up := strings.ToUpper(stmt)
			for _, banned := range []string{"DATETIME64", "MAP(", "JSON", " TTL ", "CODEC(", "LOWCARDINALITY", "IF NOT EXISTS ADD", "ADD COLUMN IF NOT EXISTS", "ARRAYSUM", "GROUP BY 1"} {
				if strings.Contains(up, banned) {
					t.Errorf("%s uses %s, which ClickHouse 18.16 lacks (DESIGN.md §6)", m.Name, banned)
				}
			}
			if strings.HasPrefix(up, "CREATE") && !strings.Contains(up, "IF NOT EXISTS") {
				t.Errorf("%s: %q is not idempotent (IF NOT EXISTS)", m.Name, stmt[:min(len(stmt), 60)])
			}
		}
	}
}
