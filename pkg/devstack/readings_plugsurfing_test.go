package devstack_test

import (
	"slices"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/devstack"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/plugsurfing"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// TestFullChainPlugsurfingOtherReadings runs Plugsurfing simulator → poller → RAW → normalizer →
// EVENTS → sink → ClickHouse with every reading of the seed other than the one the client was
// first written for, all at once (each alone is tested at the client,
// TestSourceReadsTheOtherReadings): the bills list at the top level of the answer, not under
// "user"; external-session-ids as JSON integers beyond 2^53; result.code as a string; an
// interval that includes its end day (bills on a boundary served twice); bills that cover no
// session ([], null or no key). ClickHouse must hold exactly the simulator's bills, each once,
// each with exactly its sessions in session_ids, and nothing in the DLQ.
func TestFullChainPlugsurfingOtherReadings(t *testing.T) {
	readings := sim.Readings{PlugsurfingBillsTopLevel: true, PlugsurfingNumericSessionIDs: true, PlugsurfingStringResultCode: true,
		PlugsurfingInclusiveEnd: true, PlugsurfingBillsWithoutSessions: true}
	t0 := time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC)
	clk := &clock{t: t0}
	p := plugsurfing.Provider{Now: clk.Now, Backoff: poll.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, MaxRetryAfter: 50 * time.Millisecond}}
	const seed, records = 17, 600
	s, err := devstack.Start(t.Context(), devstack.Config{
		Dir: t.TempDir(), NATSPort: -1, SimAddr: "127.0.0.1:0", Seed: seed, Records: records,
		PollInterval: 200 * time.Millisecond, Fresh: true, Readings: readings,
		Providers: []providers.Provider{p}, Now: clk.Now,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	// The stack's simulator, built again from the same options at the same time, gives each
	// bill's sessions.
	twin := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: seed, Records: records, Readings: readings, Now: clk.Now})
	// Every bill is published a while after its date; three days on, all of them are.
	clk.Set(t0.Add(72 * time.Hour))
	truth := s.Sim.Truth()["plugsurfing"]
	want := plugsurfing.SimSessions(twin)
	if tt := twin.Truth(); truth.Records != records || !slices.Equal(tt.IDs, truth.IDs) || len(want) != truth.Records {
		t.Fatalf("the stack's simulator holds %d bills, its twin %d (%d session lists)", truth.Records, tt.Records, len(want))
	}
	empty, numeric := 0, 0
	for _, sessions := range want {
		if len(sessions) == 0 {
			empty++
		}
		if slices.ContainsFunc(sessions, func(id string) bool { return len(id) > len("plugsurfing:")+16 }) {
			numeric++
		}
	}
	if empty == 0 || numeric == 0 {
		t.Fatalf("%d bills without sessions, %d with a session id beyond 2^53: the readings are not exercised", empty, numeric)
	}

	runAll(t, s)
	c := waitDone(t, s, 4*time.Minute)
	if c.DLQ != 0 {
		t.Errorf("DLQ holds %d messages, want 0", c.DLQ)
	}
	rows, err := s.Sink.Conn().Query(t.Context(),
		"SELECT source_id, session_ids FROM chargeline.invoices_current WHERE provider = 'plugsurfing' ORDER BY source_id")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	bad := 0
	for rows.Next() {
		var (
			id       string
			sessions []string
		)
		if err := rows.Scan(&id, &sessions); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if w, ok := want[id]; ok && !slices.Equal(sessions, w) {
			if bad++; bad <= 3 {
				t.Errorf("bill %s: session_ids %q, the simulator's %q", id, sessions, w)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if bad > 0 {
		t.Errorf("%d of %d bills with other session_ids than the simulator's", bad, len(ids))
	}
	if !slices.Equal(ids, truth.IDs) {
		t.Fatalf("ClickHouse holds %d Plugsurfing bills, the simulator %d: %s", len(ids), len(truth.IDs), idDiff(ids, truth.IDs))
	}
	checkRawRecords(t, s, "plugsurfing", truth.Records)
}
