package ops_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/ops"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// rawDays returns, per UTC day of sessionStartDate, the Be-Mo sessions on RAW, and their total.
func rawDays(t *testing.T, ns *natstest.Server) (map[string]int, int) {
	t.Helper()
	days := map[string]int{}
	msgs := messages(t, ns.JS, bus.StreamRaw, "raw.bemo.sessions")
	for _, m := range msgs {
		var s bemo.Session
		if err := json.Unmarshal(m.Data, &s); err != nil {
			t.Fatal(err)
		}
		start, err := time.Parse(time.RFC3339, s.SessionStartDate)
		if err != nil {
			t.Fatal(err)
		}
		days[start.UTC().Format(time.DateOnly)]++
		if m.Header.Get(events.HeaderID) != m.Header.Get("Nats-Msg-Id") || m.Header.Get(events.HeaderScope) == "" {
			t.Fatalf("backfilled message not in the poller's shape: %v", m.Header)
		}
	}
	return days, len(msgs)
}

func TestBackfillPublishesTheRangeAndLeavesTheLiveCheckpoint(t *testing.T) {
	ns := natstest.Start(t)
	// The simulator generates sessions over 2026-11-13 … 2026-11-20; two days later they all
	// exist, and every day up to 2026-11-20 is closed (one settle day).
	t0 := time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC)
	clk := &clock{t: t0}
	p := bemo.Provider{Now: clk.Now}
	srv := httptest.NewServer(p.NewSimulator(sim.Options{Seed: 3, Records: 400, Now: clk.Now}))
	t.Cleanup(srv.Close)
	clk.Set(t0.Add(48 * time.Hour))

	env := p.SimEnv(srv.URL)
	env["NATS_URL"] = ns.URL
	c := newCLI(env)
	c.providers = []providers.Provider{p}

	// The live poller's position, which a backfill must not move.
	kv, err := ns.JS.KeyValue(t.Context(), bus.BucketCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	cps := poll.NewCheckpoints(kv)
	live := bemo.CheckpointAt(time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC))
	liveRev, err := cps.Set(t.Context(), "bemo", "acc-1", live, 0)
	if err != nil {
		t.Fatal(err)
	}

	var rep ops.BackfillReport
	c.json(t, ops.ExitOK, &rep, "backfill", "--provider=bemo", "--from=2026-11-15", "--to=2026-11-17")
	if len(rep.Scopes) != 3 || rep.Published == 0 || rep.Duplicates != 0 {
		t.Fatalf("backfill = %+v", rep)
	}
	for _, s := range rep.Scopes {
		if !s.StoppedAtTo || s.ReadUntil == nil || !s.ReadUntil.Equal(time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)) || s.Error != "" {
			t.Errorf("scope %+v: want stopped at --to after reading up to 2026-11-18", s)
		}
	}
	days, total := rawDays(t, ns)
	if total != rep.Published {
		t.Errorf("RAW holds %d sessions, backfill reports %d published", total, rep.Published)
	}
	for _, d := range []string{"2026-11-15", "2026-11-16", "2026-11-17"} {
		if days[d] == 0 {
			t.Errorf("no session of %s was backfilled", d)
		}
	}
	for d := range days {
		if d < "2026-11-15" || d > "2026-11-17" {
			t.Errorf("%d sessions of %s published, outside --from/--to", days[d], d)
		}
	}
	inRange := total

	// Re-reading the same range stores nothing new: the duplicate window drops every record.
	c.json(t, ops.ExitOK, &rep, "backfill", "--provider=bemo", "--from=2026-11-15", "--to=2026-11-17", "--scope=acc-1,acc-3")
	if rep.Published != 0 || rep.Duplicates == 0 || len(rep.Scopes) != 2 {
		t.Fatalf("second backfill = %+v, want duplicates only", rep)
	}

	// Everything from the first day to now: the range read before was complete (none of its
	// days gains a session) and the open days are read to the present.
	out := c.must(t, ops.ExitOK, "backfill", "--provider=bemo", "--from=2026-11-13").stdout
	t.Logf("chargectl backfill --from=2026-11-13:\n%s", out)
	days, _ = rawDays(t, ns)
	if n := days["2026-11-15"] + days["2026-11-16"] + days["2026-11-17"]; n != inRange {
		t.Errorf("a full read finds %d sessions in 2026-11-15…17, the range backfill published %d", n, inRange)
	}
	if days["2026-11-13"] == 0 || days["2026-11-20"] == 0 {
		t.Errorf("full backfill missed days: %v", days)
	}
	if !strings.Contains(out, "no checkpoint was written") {
		t.Errorf("output:\n%s", out)
	}

	// The live checkpoint did not move, no other scope got one, and no lease was taken.
	if cp, rev, _ := cps.Get(t.Context(), "bemo", "acc-1"); cp != live || rev != liveRev {
		t.Errorf("live checkpoint is %s at revision %d, was %s at %d", cp, rev, live, liveRev)
	}
	var list ops.CheckpointsReport
	c.json(t, ops.ExitOK, &list, "checkpoints", "show")
	if len(list.Checkpoints) != 1 {
		t.Errorf("checkpoints after backfills: %+v, want only the live one", list.Checkpoints)
	}
	leases, err := ns.JS.KeyValue(t.Context(), bus.BucketLeases)
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := leases.Keys(t.Context()); len(keys) != 0 {
		t.Errorf("backfill left leases %v", keys)
	}
	c.must(t, ops.ExitUsage, "backfill", "--provider=bemo", "--from=2026-11-15", "--scope=acc-9")
}
