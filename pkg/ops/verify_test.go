package ops_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/devstack"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/ops"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/simserver"
	"github.com/chargeline/chargeline/pkg/sink"
)

// TestVerifyFindsWhatAHeldBackPollerNeverFetched polls Be-Mo once, then lets the provider's
// clock run on while the poller is held back: sessions Be-Mo creates meanwhile exist at the
// provider and nowhere in ClickHouse. Reconcile cannot see them (it compares what was fetched
// with what landed); verify must name each one, and the money they carry.
func TestVerifyFindsWhatAHeldBackPollerNeverFetched(t *testing.T) {
	const records = 400
	t0 := time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC)
	clk := &clock{t: t0}
	p := bemo.Provider{Now: clk.Now, Backoff: poll.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}}
	s, err := devstack.Start(t.Context(), devstack.Config{
		Dir: t.TempDir(), NATSPort: -1, SimAddr: "127.0.0.1:0", Seed: 5, Records: records,
		Fresh: true, Providers: []providers.Provider{p}, Now: clk.Now,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := s.RunSink(t.Context(), sink.Config{BatchAge: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := s.RunNormalizer(t.Context(), normalize.Config{RetryDelay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	sched, err := s.Scheduler(t.Context(), p, poll.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := s.Sim.Truth()["bemo"].Records
	if before == 0 || before == records {
		t.Fatalf("the simulator serves %d of %d sessions at t0; the test needs some still to be created", before, records)
	}
	waitFor(t, 2*time.Minute, "every fetched session in ClickHouse", func() bool {
		c, err := s.Counts(t.Context())
		return err == nil && c.Rows["charging_sessions"] == uint64(before) && c.RawRecords == uint64(before)
	})

	env := p.SimEnv(simserver.BaseURL(s.SimAddr, "bemo"))
	env["NATS_URL"], env["CLICKHOUSE_DSN"] = s.NATS.ClientURL(), s.ClickHouse.DSN()
	c := newCLI(env)
	c.providers = []providers.Provider{p}
	c.now = clk.Now
	from := t0.AddDate(0, 0, -40).Format(time.DateOnly)

	var rep ops.VerifyReport
	c.json(t, ops.ExitOK, &rep, "verify", "--provider", "bemo", "--from", from)
	if !rep.OK || rep.Records != before || rep.Events != before || len(rep.Missing)+len(rep.Different)+len(rep.Gaps) != 0 {
		t.Fatalf("verify of a caught-up pipeline: ok=%t records=%d events=%d (want %d) missing=%v different=%v gaps=%v unmappable=%v",
			rep.OK, rep.Records, rep.Events, before, rep.Missing, rep.Different, rep.Gaps, rep.Unmappable)
	}
	if len(rep.Money) == 0 {
		t.Fatal("verify compared no money")
	}
	for _, m := range rep.Money {
		if !m.Equal || m.Table != sink.TableChargingSessions {
			t.Errorf("money %+v: want equal charging_sessions sums", m)
		}
	}
	t.Logf("chargectl verify (caught up):\n%s", c.must(t, ops.ExitOK, "verify", "--provider", "bemo", "--from", from).stdout)

	// The poller is held back while Be-Mo creates the rest of the sessions.
	clk.Set(t0.Add(48 * time.Hour))
	after := s.Sim.Truth()["bemo"].Records
	if after <= before {
		t.Fatalf("no session was created after t0 (%d then %d)", before, after)
	}
	rep = ops.VerifyReport{}
	c.json(t, ops.ExitDifferences, &rep, "verify", "--provider", "bemo", "--from", from)
	if rep.OK || rep.Records != after {
		t.Fatalf("verify after the provider moved on: ok=%t records=%d, want not ok and %d records", rep.OK, rep.Records, after)
	}
	late := 0
	var rawMissing []string
	for _, m := range rep.Missing {
		switch m.Table {
		case "raw_records":
			late++
			rawMissing = append(rawMissing, m.RecordID)
		case sink.TableChargingSessions:
		default:
			t.Errorf("missing row in unexpected table: %+v", m)
		}
	}
	if late != after-before {
		t.Fatalf("verify names %d sessions missing from raw_records, want the %d created while the poller was held back", late, after-before)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(rawMissing)))) != late {
		t.Fatalf("a missing session is named twice: %v", rawMissing)
	}
	differs := false
	for _, m := range rep.Money {
		differs = differs || !m.Equal
	}
	if !differs {
		t.Fatalf("money %+v: the late sessions' money must show on the provider side only", rep.Money)
	}
	out := c.must(t, ops.ExitDifferences, "verify", "--provider", "bemo", "--from", from).stdout
	if !strings.Contains(out, rawMissing[0]) || !strings.Contains(out, "result: differences") {
		t.Fatalf("the table does not name missing session %s:\n%s", rawMissing[0], out)
	}
	t.Logf("chargectl verify (poller held back):\n%s", out)
}
