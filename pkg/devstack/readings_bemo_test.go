package devstack_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/devstack"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	"github.com/chargeline/chargeline/pkg/providers/simserver"
)

// TestFullChainBeMoLateAndCorrectedSessions runs Be-Mo under the simulator reading in which
// about one session in 100 is created days after it ended and about one in 100 is corrected (a
// transaction amount changes) days after it was created, both visible only through
// lastCreated once their day is closed. The pipeline first catches up with the sessions that
// exist two days after the data begins; then the clock moves eight days on, and ClickHouse must
// again hold exactly the simulator's sessions — the late ones too — with every session's money
// from its latest version, while no closed day is requested again.
func TestFullChainBeMoLateAndCorrectedSessions(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC)
	clk := &clock{t: t0}
	p := bemo.Provider{Now: clk.Now, Backoff: poll.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, MaxRetryAfter: 50 * time.Millisecond}}
	s, err := devstack.Start(t.Context(), devstack.Config{
		Dir: t.TempDir(), NATSPort: -1, SimAddr: "127.0.0.1:0", Seed: 11, Records: 3000,
		PollInterval: 200 * time.Millisecond, Fresh: true, Readings: sim.Readings{LateCreated: true},
		Providers: []providers.Provider{p}, Now: clk.Now,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	firstLook := t0.Add(48 * time.Hour)
	clk.Set(firstLook)
	runAll(t, s)

	early := s.Sim.Truth()["bemo"]
	waitBemoTruth(t, s, 3*time.Minute)
	requests := s.Sim.Truth()["bemo"].Requests

	clk.Set(t0.Add(10 * 24 * time.Hour))
	final := s.Sim.Truth()["bemo"]
	if final.Records != 3000 || final.Records == early.Records || fmt.Sprint(final.Totals) == fmt.Sprint(early.Totals) {
		t.Fatalf("the simulator holds %d sessions (%v) at the end, %d (%v) at the first look: nothing arrives late, the test checks nothing",
			final.Records, final.Totals, early.Records, early.Totals)
	}
	t.Logf("first look: %d sessions %v; eight days on: %d sessions %v", early.Records, early.Totals, final.Records, final.Totals)
	waitBemoTruth(t, s, 3*time.Minute)

	// The days closed at the first look (up to the 20th) were never requested again; what
	// changed for them came by the sweeps.
	after := s.Sim.Truth()["bemo"].Requests
	sweeps := 0
	for key, n := range after {
		if strings.Contains(key, "lastCreated=") {
			sweeps += n
			continue
		}
		// "acc-1 .." is servedTotals' own reading, without dates.
		_, window, _ := strings.Cut(key, " ")
		if day, _, _ := strings.Cut(window, ".."); day != "" && day <= "2026-11-20" && n != requests[key] {
			t.Errorf("closed day window %q requested again: %d requests at the first look, %d at the end", key, requests[key], n)
		}
	}
	if sweeps == 0 {
		t.Errorf("no lastCreated request was served: %v", after)
	}
	if c, err := s.Counts(t.Context()); err != nil || c.DLQ != 0 {
		t.Errorf("DLQ holds %d messages (err %v), want 0", c.DLQ, err)
	}
}

// waitBemoTruth waits until ClickHouse holds exactly the Be-Mo simulator's current sessions:
// the same ids, each session's total_amount that of the version the simulator serves now, and
// the same money per currency as Truth.
func waitBemoTruth(t *testing.T, s *devstack.Stack, d time.Duration) {
	t.Helper()
	want := servedTotals(t, s)
	truth := s.Sim.Truth()["bemo"]
	var last string
	for deadline := time.Now().Add(d); ; {
		last = bemoVersusTruth(t, s, want, truth)
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse does not hold the Be-Mo simulator's sessions within %s: %s", d, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// servedTotals reads every session the simulator serves (no date filter) and returns each
// session's total amount, the sum of its transactions.
func servedTotals(t *testing.T, s *devstack.Stack) map[string]string {
	t.Helper()
	c, err := bemo.NewClient(bemo.Config{
		BaseURL: simserver.BaseURL(s.SimAddr, "bemo"), AccessToken: bemo.SimAccessToken,
		SubscriptionKey: bemo.SimSubscriptionKey, Accounts: bemo.SimAccounts(), PageSize: 1000,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, acc := range bemo.SimAccounts() {
		for page := 0; ; page++ {
			p, err := c.Sessions(t.Context(), acc, bemo.SessionsQuery{Offset: page})
			if err != nil {
				t.Fatal(err)
			}
			for _, item := range p.Sessions {
				var ss bemo.Session
				if err := json.Unmarshal(item, &ss); err != nil {
					t.Fatal(err)
				}
				var amounts []string
				for _, tx := range ss.Transactions {
					amounts = append(amounts, tx.TotalAmount.String())
				}
				if out[ss.SessionID], err = events.AddDecimals(amounts...); err != nil {
					t.Fatal(err)
				}
			}
			if !p.Full() {
				break
			}
		}
	}
	return out
}

// bemoVersusTruth returns "" when ClickHouse's Be-Mo rows (FINAL) are exactly the sessions of
// want (id → total amount) and truth (ids, money per currency), else what differs.
func bemoVersusTruth(t *testing.T, s *devstack.Stack, want map[string]string, truth sim.Truth) string {
	t.Helper()
	rows, err := s.Sink.Conn().Query(t.Context(), `
		SELECT source_id, toString(total_amount), currency FROM chargeline.charging_sessions_current WHERE provider = 'bemo'`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var ids, diffs []string
	amounts := map[string][]string{}
	for rows.Next() {
		var id, amount, currency string
		if err := rows.Scan(&id, &amount, &currency); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		amounts[currency] = append(amounts[currency], amount)
		if w, ok := want[id]; ok && !sameAmount(amount, w) && len(diffs) < 5 {
			diffs = append(diffs, fmt.Sprintf("session %s: total %s in ClickHouse, the simulator serves %s", id, amount, w))
		}
	}
	if err := rows.Err(); err != nil {
		return err.Error()
	}
	slices.Sort(ids)
	if !slices.Equal(ids, truth.IDs) {
		missing, extra := 0, 0
		for _, id := range truth.IDs {
			if _, found := slices.BinarySearch(ids, id); !found {
				missing++
			}
		}
		for _, id := range ids {
			if _, found := slices.BinarySearch(truth.IDs, id); !found {
				extra++
			}
		}
		diffs = append(diffs, fmt.Sprintf("%d rows for %d sessions: %d missing, %d not the simulator's", len(ids), len(truth.IDs), missing, extra))
	}
	if len(want) != len(truth.IDs) {
		diffs = append(diffs, fmt.Sprintf("the simulator serves %d sessions, its Truth lists %d", len(want), len(truth.IDs)))
	}
	for cur, total := range truth.Totals {
		got, err := events.AddDecimals(amounts[cur]...)
		if err != nil || !sameAmount(got, total) {
			diffs = append(diffs, fmt.Sprintf("%s total %s in ClickHouse, %s in the simulator", cur, got, total))
		}
	}
	if len(amounts) != len(truth.Totals) {
		diffs = append(diffs, fmt.Sprintf("%d currencies in ClickHouse, the simulator's %v", len(amounts), truth.Totals))
	}
	return strings.Join(diffs, "; ")
}

// sameAmount compares decimal texts by value ("12.3400" = "12.34").
func sameAmount(a, b string) bool {
	d, err := events.AddDecimals(a, "-"+b)
	return err == nil && strings.Trim(d, "0.-") == ""
}
