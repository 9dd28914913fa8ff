package clickhouseschema_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/devstack"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/sink"
)

// TestAnalystREADME fills a ClickHouse (18.16 here, as in CI) with every provider's simulated
// data through the whole pipeline, then checks README.md against it: every SQL block runs and
// returns rows; inserting every row of every table a second time (a redelivery) changes no
// query's result; and every table and view, and each of their columns, is described.
func TestAnalystREADME(t *testing.T) {
	queries := readmeQueries(t)
	s := filledStack(t)
	conn := s.Sink.Conn()

	before := map[string]string{}
	for _, q := range queries {
		res, err := query(t.Context(), conn, q.sql)
		switch {
		case err != nil:
			t.Errorf("%s: %v\n%s", q.title, err, q.sql)
		case len(res) == 0:
			t.Errorf("%s returns no rows", q.title)
		}
		before[q.title] = strings.Join(res, "\n")
	}

	t.Run("documented", func(t *testing.T) { checkDocumented(t, conn) })

	t.Run("redelivery changes no result", func(t *testing.T) {
		for _, table := range []string{"charging_sessions", "invoices", "cost_centers", "invoice_lines", "raw_records"} {
			if err := conn.Exec(t.Context(), "INSERT INTO chargeline."+table+" SELECT * FROM chargeline."+table); err != nil {
				t.Fatalf("duplicate %s: %v", table, err)
			}
		}
		for _, q := range queries {
			res, err := query(t.Context(), conn, q.sql)
			if err != nil {
				t.Errorf("%s: %v", q.title, err)
				continue
			}
			if got := strings.Join(res, "\n"); got != before[q.title] {
				t.Errorf("%s changed when every row was inserted twice:\nbefore:\n%s\nafter:\n%s", q.title, before[q.title], got)
			}
		}
	})
}

type readmeQuery struct{ title, sql string }

// readmeQueries returns every ```sql block of README.md with the heading above it.
func readmeQueries(t *testing.T) []readmeQuery {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var (
		qs      []readmeQuery
		heading string
		sql     []string
		inSQL   bool
	)
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case inSQL && line == "```":
			qs = append(qs, readmeQuery{title: fmt.Sprintf("query %q", heading), sql: strings.TrimSuffix(strings.TrimSpace(strings.Join(sql, "\n")), ";")})
			inSQL, sql = false, nil
		case inSQL:
			sql = append(sql, line)
		case line == "```sql":
			inSQL = true
		case strings.HasPrefix(line, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
		}
	}
	if len(qs) < 10 {
		t.Fatalf("README.md holds %d SQL queries, want at least ten", len(qs))
	}
	return qs
}

func lineAt(s string, i int) string {
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
		return s[i : i+j]
	}
	return s[i:]
}

// filledStack runs every provider's simulator, poller, the normalizer and the sink until all
// simulated records are in ClickHouse and nothing is in flight. Pollers run one cycle at a time
// (RunOnce), none after that, so the data stays put while the test queries it.
func filledStack(t *testing.T) *devstack.Stack {
	t.Helper()
	s, err := devstack.Start(t.Context(), devstack.Config{
		Dir: t.TempDir(), NATSPort: -1, ClickHousePort: 0, SimAddr: "127.0.0.1:0", Seed: 11, Records: 200, Fresh: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := s.RunSink(t.Context(), sink.Config{BatchAge: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := s.RunNormalizer(t.Context(), normalize.Config{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(4 * time.Minute)
	var (
		c       devstack.Counts
		lastErr error
	)
	for {
		// Another cycle of every provider whose simulator still holds records ClickHouse lacks
		// (a simulator on the wall clock may publish a late one meanwhile).
		if lastErr = pollOnce(t, s); lastErr == nil {
			if c, lastErr = settled(t.Context(), s); lastErr == nil && c.Done() {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse not filled within 4 minutes: %s (%v)", c.Progress(), lastErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func pollOnce(t *testing.T, s *devstack.Stack) error {
	t.Helper()
	var errs []error
	for _, p := range s.Providers() {
		sched, err := s.Scheduler(t.Context(), p, poll.Config{})
		if err != nil {
			t.Fatal(err)
		}
		errs = append(errs, sched.RunOnce(t.Context()))
	}
	return errors.Join(errs...)
}

// settled waits until every durable consumer has acknowledged everything, then counts.
func settled(ctx context.Context, s *devstack.Stack) (devstack.Counts, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		busy, err := inFlight(ctx, s.JS)
		if err == nil && busy == 0 {
			return s.Counts(ctx)
		}
		if time.Now().After(deadline) {
			return devstack.Counts{}, fmt.Errorf("%d messages still in flight (%v)", busy, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func inFlight(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	var n uint64
	for _, stream := range []string{bus.StreamRaw, bus.StreamEvents} {
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return 0, err
		}
		infos := st.ListConsumers(ctx)
		for ci := range infos.Info() {
			n += ci.NumPending + uint64(ci.NumAckPending)
		}
		if err := infos.Err(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// query runs q and returns its rows as text, one line each.
func query(ctx context.Context, conn driver.Conn, q string) ([]string, error) {
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	var out []string
	for rows.Next() {
		dst := make([]any, len(types))
		for i, ct := range types {
			dst[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		cells := make([]string, len(dst))
		for i, d := range dst {
			cells[i] = text(reflect.ValueOf(d).Elem())
		}
		out = append(out, strings.Join(cells, "\t"))
	}
	return out, rows.Err()
}

func text(v reflect.Value) string {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "NULL"
		}
		v = v.Elem()
	}
	return fmt.Sprint(v.Interface())
}

// checkDocumented finds, for every table and view of the database, a README heading naming it
// (### `name`) and, in that section, every one of its columns in backquotes. The *_current views are
// documented as their table's columns: checked by comparing the columns.
func checkDocumented(t *testing.T, conn driver.Conn) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{} // table name → its section's text
	for _, sec := range strings.Split(string(b), "\n### ")[1:] {
		heading := lineAt(sec, 0)
		if !strings.HasPrefix(heading, "`") {
			continue // a query's heading, not a table's
		}
		for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(heading, -1) {
			sections[m[1]] = sec
		}
	}
	columns := map[string][]string{} // table → "name type" in order
	rows, err := conn.Query(t.Context(), "SELECT table, name, type FROM system.columns WHERE database = 'chargeline'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, name, typ string
		if err := rows.Scan(&table, &name, &typ); err != nil {
			t.Fatal(err)
		}
		columns[table] = append(columns[table], name+" "+typ)
	}
	rows.Close()
	if len(columns) == 0 {
		t.Fatal("no tables in database chargeline")
	}
	for table, cols := range columns {
		sec, ok := sections[table]
		if !ok {
			t.Errorf("README.md has no ### section for %s", table)
			continue
		}
		if base, ok := strings.CutSuffix(table, "_current"); ok {
			if !slices.Equal(slices.Sorted(slices.Values(cols)), slices.Sorted(slices.Values(columns[base]))) {
				t.Errorf("%s is documented as the columns of %s, but they differ:\n%v\n%v", table, base, cols, columns[base])
			}
			continue
		}
		for _, c := range cols {
			name := strings.Fields(c)[0]
			if !strings.Contains(sec, "`"+name+"`") {
				t.Errorf("README.md section of %s does not describe column %s", table, name)
			}
		}
	}
}
