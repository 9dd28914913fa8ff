package sink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/sink/clickhousetest"
)

// freshnessTimes are, per canonical table, the columns the freshness view may take a row's
// source time from. The fixture writes all of them in every row (nil = NULL), so one batch per
// table has one column list.
var freshnessTimes = map[string][]string{
	TableChargingSessions: {"source_updated_at", "ended_at", "started_at"},
	TableInvoices:         {"source_updated_at", "issued_at"},
	TableInvoiceLines:     {"source_updated_at", "time"},
	TableCostCenters:      {"updated_at", "created_at"},
}

type fixtureRow struct {
	table, provider, id string
	version             uint64
	inserted            time.Time
	times               map[string]time.Time // column → value; absent: NULL
}

// freshnessFixture returns rows whose source and insert times are known relative to base, and
// the freshness rows they must give (formatted by freshnessLine). Each table's rows tell its
// source-time column apart from the others: were the view to read another column first, a
// lag would change.
func freshnessFixture(base time.Time) ([]fixtureRow, []string) {
	ago := func(d time.Duration) time.Time { return base.Add(-d) }
	s := time.Second
	rows := []fixtureRow{
		// bemo: three sessions inserted 10 minutes ago, lags 60, 120, 180 s. The last change
		// beats the end, the end beats the start.
		{TableChargingSessions, "bemo", "bemo:1", 2, ago(10 * time.Minute), map[string]time.Time{
			"source_updated_at": ago(10*time.Minute + 60*s), "ended_at": ago(10*time.Minute + 600*s), "started_at": ago(10*time.Minute + 900*s)}},
		// An older version of bemo:1 inserted later (a replayed raw message): FINAL drops it,
		// else it would be the latest insert and a lag of 5 s.
		{TableChargingSessions, "bemo", "bemo:1", 1, ago(2 * time.Minute), map[string]time.Time{"ended_at": ago(2*time.Minute + 5*s)}},
		{TableChargingSessions, "bemo", "bemo:2", 1, ago(10 * time.Minute), map[string]time.Time{"started_at": ago(10*time.Minute + 120*s)}},
		{TableChargingSessions, "bemo", "bemo:3", 1, ago(10 * time.Minute), map[string]time.Time{
			"ended_at": ago(10*time.Minute + 180*s), "started_at": ago(10*time.Minute + 4000*s)}},
		// A redelivered copy of bemo:3: the same row twice counts once.
		{TableChargingSessions, "bemo", "bemo:3", 1, ago(10 * time.Minute), map[string]time.Time{
			"ended_at": ago(10*time.Minute + 180*s), "started_at": ago(10*time.Minute + 4000*s)}},
		// Five hours ago: in the day's window only. A source time ahead of the insert is a
		// negative lag, kept.
		{TableChargingSessions, "bemo", "bemo:4", 1, ago(5 * time.Hour), map[string]time.Time{"ended_at": ago(5*time.Hour - 300*s)}},
		{TableChargingSessions, "bemo", "bemo:5", 1, ago(5 * time.Hour), map[string]time.Time{"ended_at": ago(5*time.Hour + 7200*s)}},
		// Three days ago: in neither window, still a row.
		{TableChargingSessions, "bemo", "bemo:6", 1, ago(72 * time.Hour), map[string]time.Time{"ended_at": ago(96 * time.Hour)}},
		// pip: nothing in either window; the lags are NULL, not the zeros quantilesExactIf
		// returns for no row.
		{TableChargingSessions, "pip", "pip:1", 1, ago(30 * time.Hour), map[string]time.Time{"ended_at": ago(31 * time.Hour)}},

		// mews bills: the last change beats the issue (lags 30, 90, 45).
		{TableInvoices, "mews", "mews:b1", 1, ago(20 * time.Minute), map[string]time.Time{
			"source_updated_at": ago(20*time.Minute + 30*s), "issued_at": ago(20*time.Minute + 3600*s)}},
		{TableInvoices, "mews", "mews:b2", 1, ago(20 * time.Minute), map[string]time.Time{"issued_at": ago(20*time.Minute + 90*s)}},
		{TableInvoices, "mews", "mews:b3", 1, ago(25 * time.Minute), map[string]time.Time{"issued_at": ago(25*time.Minute + 45*s)}},
		// Plugsurfing bills carry no time: insert times and counts, no source time, no lag.
		{TableInvoices, "plugsurfing", "plugsurfing:a", 1, ago(15 * time.Minute), nil},
		{TableInvoices, "plugsurfing", "plugsurfing:b", 1, ago(40 * time.Hour), nil},

		// mews order items: the last change beats the consumption, which may lie ahead (a
		// booked night): lags 20, 40, 10.
		{TableInvoiceLines, "mews", "mews:l1", 1, ago(30 * time.Minute), map[string]time.Time{
			"source_updated_at": ago(30*time.Minute + 20*s), "time": base.Add(7 * 24 * time.Hour)}},
		{TableInvoiceLines, "mews", "mews:l2", 1, ago(30 * time.Minute), map[string]time.Time{"time": ago(30*time.Minute + 40*s)}},
		{TableInvoiceLines, "mews", "mews:l3", 1, ago(30 * time.Minute), map[string]time.Time{"source_updated_at": ago(30*time.Minute + 10*s)}},

		// inpost cost centres, three hours ago: updated_at beats created_at (lags 15, 25, 35).
		{TableCostCenters, "inpost", "inpost:1", 1, ago(3 * time.Hour), map[string]time.Time{
			"updated_at": ago(3*time.Hour + 15*s), "created_at": ago(3*time.Hour + 100000*s)}},
		{TableCostCenters, "inpost", "inpost:2", 1, ago(3 * time.Hour), map[string]time.Time{"created_at": ago(3*time.Hour + 25*s)}},
		{TableCostCenters, "inpost", "inpost:3", 1, ago(3 * time.Hour), map[string]time.Time{"updated_at": ago(3*time.Hour + 35*s)}},
	}
	// Odd counts per window, so every quantile is one row's lag whatever the rounding.
	want := []string{
		// hour {60, 120, 180}; day {-300, 60, 120, 180, 7200}
		freshnessLine("charging_sessions", "bemo", 6, ptr(ago(11*time.Minute)), ago(10*time.Minute), 3, ptr[int64](120), ptr[int64](180), 5, ptr[int64](120), ptr[int64](7200)),
		freshnessLine("charging_sessions", "pip", 1, ptr(ago(31*time.Hour)), ago(30*time.Hour), 0, nil, nil, 0, nil, nil),
		freshnessLine("cost_centers", "inpost", 3, ptr(ago(3*time.Hour+15*s)), ago(3*time.Hour), 0, nil, nil, 3, ptr[int64](25), ptr[int64](35)),
		freshnessLine("invoice_lines", "mews", 3, ptr(ago(30*time.Minute+10*s)), ago(30*time.Minute), 3, ptr[int64](20), ptr[int64](40), 3, ptr[int64](20), ptr[int64](40)),
		freshnessLine("invoices", "mews", 3, ptr(ago(20*time.Minute+30*s)), ago(20*time.Minute), 3, ptr[int64](45), ptr[int64](90), 3, ptr[int64](45), ptr[int64](90)),
		freshnessLine("invoices", "plugsurfing", 2, nil, ago(15*time.Minute), 1, nil, nil, 1, nil, nil),
	}
	return rows, want
}

func ptr[T any](v T) *T { return &v }

// insertFixture writes the rows with the sink's own batch insert, naming inserted_at (which
// the sink leaves to its DEFAULT) to set known insert times.
func insertFixture(ctx context.Context, t *testing.T, conn driver.Conn, rows []fixtureRow) {
	t.Helper()
	batches := map[string][]row{}
	for _, r := range rows {
		cols := append([]string{"id", "provider", "version", "inserted_at"}, freshnessTimes[r.table]...)
		vals := []any{r.id, r.provider, r.version, r.inserted}
		for _, c := range freshnessTimes[r.table] {
			var v *time.Time
			if tm, ok := r.times[c]; ok {
				v = &tm
			}
			vals = append(vals, v)
		}
		batches[r.table] = append(batches[r.table], row{table: r.table, cols: cols, vals: vals})
	}
	for table, b := range batches {
		if err := insert(ctx, conn, table, b); err != nil {
			t.Fatalf("insert into %s: %v", table, err)
		}
	}
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "NULL"
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtLag(v *int64) string {
	if v == nil {
		return "NULL"
	}
	return fmt.Sprint(*v)
}

func freshnessLine(table, provider string, rows uint64, src *time.Time, ins time.Time, n1h uint64, p50h, p99h *int64, n1d uint64, p50d, p99d *int64) string {
	return fmt.Sprintf("%s %s rows=%d source=%s inserted=%s 1h=%d/p50 %s/p99 %s 1d=%d/p50 %s/p99 %s",
		table, provider, rows, fmtTime(src), fmtTime(&ins), n1h, fmtLag(p50h), fmtLag(p99h), n1d, fmtLag(p50d), fmtLag(p99d))
}

// readFreshness returns every row of chargeline.freshness, formatted by freshnessLine.
func readFreshness(ctx context.Context, t *testing.T, conn driver.Conn) []string {
	t.Helper()
	rows, err := conn.Query(ctx, "SELECT table, provider, rows, latest_source_time, latest_inserted_at, rows_1h, lag_p50_1h, lag_p99_1h, "+
		"rows_1d, lag_p50_1d, lag_p99_1d FROM chargeline.freshness ORDER BY table, provider")
	if err != nil {
		t.Fatalf("query freshness: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			table, provider        string
			n, n1h, n1d            uint64
			src                    *time.Time
			ins                    time.Time
			p50h, p99h, p50d, p99d *int64
		)
		if err := rows.Scan(&table, &provider, &n, &src, &ins, &n1h, &p50h, &p99h, &n1d, &p50d, &p99d); err != nil {
			t.Fatalf("scan freshness: %v", err)
		}
		out = append(out, freshnessLine(table, provider, n, src, ins, n1h, p50h, p99h, n1d, p50d, p99d))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read freshness: %v", err)
	}
	return out
}

func checkFreshness(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: freshness\n got:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestFreshnessView fills the canonical tables with rows of known source and insert times
// and reads chargeline.freshness: per table and provider the latest source and insert times,
// the rows and the exact lag quantiles of the last hour and day; a redelivery of every row
// changes nothing; a row the sink inserts gets ClickHouse's insert time.
func TestFreshnessView(t *testing.T) {
	t.Parallel()
	ch := clickhousetest.Start(t)
	conn, err := Open(Config{DSN: ch.DSN()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := Migrate(t.Context(), conn, nil); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Truncate(time.Second)
	rows, want := freshnessFixture(base)
	insertFixture(t.Context(), t, conn, rows)
	checkFreshness(t, "fixture", readFreshness(t.Context(), t, conn), want)

	for table := range freshnessTimes {
		ch.Exec(t, "INSERT INTO chargeline."+table+" SELECT * FROM chargeline."+table)
	}
	checkFreshness(t, "every row inserted twice", readFreshness(t.Context(), t, conn), want)

	// The sink's own path: a decoded event, its batch without inserted_at.
	ended := time.Now().UTC().Truncate(time.Second).Add(-42 * time.Second)
	r, err := decode(source{subject: "events.charging_session.v1.pip", header: nats.Header{events.HeaderID: {"e-pip-2"}},
		data: []byte(`{"id":"pip:2","provider":"pip","ended_at":"` + ended.Format(time.RFC3339) + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC().Truncate(time.Second)
	if err := insert(t.Context(), conn, r.table, []row{r}); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UTC()
	var (
		n1h      uint64
		ins      time.Time
		p50, p99 *int64
	)
	if err := conn.QueryRow(t.Context(), "SELECT rows_1h, latest_inserted_at, lag_p50_1h, lag_p99_1h FROM chargeline.freshness "+
		"WHERE table = 'charging_sessions' AND provider = 'pip'").Scan(&n1h, &ins, &p50, &p99); err != nil {
		t.Fatal(err)
	}
	if n1h != 1 || ins.Before(before) || ins.After(after) {
		t.Errorf("after the sink's insert between %s and %s: rows_1h %d, latest_inserted_at %s", before, after, n1h, ins)
	}
	if lag := ins.Sub(ended); p50 == nil || p99 == nil || *p50 != int64(lag/time.Second) || *p99 != *p50 {
		t.Errorf("lag of the sink's row: p50 %s, p99 %s, want %d (inserted %s, ended %s)", fmtLag(p50), fmtLag(p99), int64(lag/time.Second), ins, ended)
	}
}

// TestFreshnessOnCluster migrates a two-replica cluster with the generated migrations, writes
// the fixture through the Distributed tables on one replica and reads the same freshness on
// the other: the view works over the cluster's tables, not just exists there.
func TestFreshnessOnCluster(t *testing.T) {
	t.Parallel()
	cluster := clickhousetest.StartCluster(t, 2)
	if _, err := MigrateCluster(t.Context(), cluster.Replicas[0].Conn(t), clickhousetest.ClusterName, nil); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Truncate(time.Second)
	rows, want := freshnessFixture(base)
	// Synchronous, as the sink inserts in cluster mode: the rows are in the local tables when
	// the insert returns.
	ctx := clickhouse.Context(t.Context(), clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
	insertFixture(ctx, t, cluster.Replicas[0].Conn(t), rows)
	for table := range freshnessTimes {
		cluster.Replicas[1].Exec(t, "SYSTEM SYNC REPLICA chargeline."+table+"_local")
	}
	checkFreshness(t, "replica 2", readFreshness(t.Context(), t, cluster.Replicas[1].Conn(t)), want)
}
