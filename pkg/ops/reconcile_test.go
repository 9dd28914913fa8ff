package ops_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/devstack"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/ops"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/sink"
)

// archiveOnly is Be-Mo plus a resource that carries no event (like a Mews customer): its
// records are archived in raw_records only.
type archiveOnly struct{ bemo.Provider }

func (p archiveOnly) Map(raw events.Raw) ([]events.Event, error) {
	if raw.Resource == "customers" {
		return nil, nil
	}
	return p.Provider.Map(raw)
}

func TestReconcileOnAPipelineRun(t *testing.T) {
	const records = 300
	t0 := time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC)
	clk := &clock{t: t0}
	p := bemo.Provider{Now: clk.Now, Backoff: poll.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}}
	s, err := devstack.Start(t.Context(), devstack.Config{
		Dir: t.TempDir(), NATSPort: -1, SimAddr: "127.0.0.1:0", Seed: 11, Records: records,
		PollInterval: 200 * time.Millisecond, Fresh: true, Providers: []providers.Provider{p}, Now: clk.Now,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	clk.Set(t0.Add(48 * time.Hour))

	// A record the normalizer cannot map, fetched on a day of its own.
	poisonDay := time.Date(2020, 1, 2, 10, 0, 0, 0, time.UTC)
	poison := events.Raw{ID: events.RawID("bemo", "sessions", "poison", []byte(`{"sessionId":`)), Provider: "bemo",
		Resource: "sessions", Scope: "acc-1", RecordID: "poison", FetchedAt: poisonDay, Data: []byte(`{"sessionId":`)}
	if _, err := s.JS.PublishMsg(t.Context(), events.RawMsg(poison)); err != nil {
		t.Fatal(err)
	}
	if err := s.RunSink(t.Context(), sink.Config{BatchAge: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := s.RunNormalizer(t.Context(), normalize.Config{RetryDelay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := s.RunPollers(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, "every session in ClickHouse and the poison record in the DLQ", func() bool {
		c, err := s.Counts(t.Context())
		return err == nil && c.Rows["charging_sessions"] == records && c.DLQ == 1 && c.RawRecords == c.Raw && c.Raw == records+1
	})

	c := newCLI(map[string]string{"NATS_URL": s.NATS.ClientURL(), "CLICKHOUSE_DSN": s.ClickHouse.DSN()})
	c.providers = []providers.Provider{archiveOnly{p}}
	today := time.Now().UTC().Format(time.DateOnly) // the pollers stamp fetched-at with the real clock

	var rep ops.ReconcileReport
	c.json(t, ops.ExitDifferences, &rep, "reconcile")
	want := []ops.ReconcileDay{
		{Provider: "bemo", Day: "2020-01-02", Raw: 1, DLQ: 1, Status: "dlq"},
		{Provider: "bemo", Day: today, Raw: records, Canonical: records, Rows: records, Status: "ok"},
	}
	checkDays(t, rep.Days, want)
	if rep.OK {
		t.Error("report says ok with a dead letter")
	}
	t.Logf("chargectl status:\n%s", c.must(t, ops.ExitOK, "status").stdout)
	t.Logf("chargectl reconcile:\n%s", c.must(t, ops.ExitDifferences, "reconcile").stdout)

	// Only the day with all its records in place: ok, exit 0.
	c.json(t, ops.ExitOK, &rep, "reconcile", "--from="+today, "--provider=bemo")
	checkDays(t, rep.Days, want[1:])

	// A raw record that never produced a row nor a dead letter is missing; one of a resource
	// without events is not.
	batch, err := s.Sink.Conn().PrepareBatch(t.Context(), "INSERT INTO chargeline.raw_records (provider, resource, scope, record_id, ce_id, fetched_at, stream_seq, payload)")
	if err != nil {
		t.Fatal(err)
	}
	lostDay := time.Date(2020, 1, 3, 8, 0, 0, 0, time.UTC)
	for _, r := range [][]any{
		{"bemo", "sessions", "acc-2", "lost-1", events.RawID("bemo", "sessions", "lost-1", []byte(`{"sessionId":"lost-1"}`)), lostDay, uint64(100000), `{"sessionId":"lost-1"}`},
		{"bemo", "customers", "acc-2", "c-1", events.RawID("bemo", "customers", "c-1", []byte(`{}`)), lostDay, uint64(100001), `{}`},
	} {
		if err := batch.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	c.json(t, ops.ExitDifferences, &rep, "reconcile", "--to=2020-12-31")
	checkDays(t, rep.Days, []ops.ReconcileDay{
		want[0],
		{Provider: "bemo", Day: "2020-01-03", Raw: 2, NoEvent: 1, Missing: 1, Status: "missing", MissingIDs: []string{"sessions/lost-1"}},
	})
	out := c.must(t, ops.ExitDifferences, "reconcile", "--to=2020-12-31").stdout
	if !strings.Contains(out, "missing bemo 2020-01-03: sessions/lost-1") {
		t.Errorf("reconcile table does not name the missing record:\n%s", out)
	}
}

func checkDays(t *testing.T, got, want []ops.ReconcileDay) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("reconcile days:\n got %+v\nwant %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Provider != w.Provider || g.Day != w.Day || g.Raw != w.Raw || g.Canonical != w.Canonical || g.Rows != w.Rows ||
			g.NoEvent != w.NoEvent || g.DLQ != w.DLQ || g.Missing != w.Missing || g.Status != w.Status ||
			strings.Join(g.MissingIDs, ",") != strings.Join(w.MissingIDs, ",") {
			t.Errorf("day %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}
