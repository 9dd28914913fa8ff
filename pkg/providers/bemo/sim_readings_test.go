package bemo_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// served returns every session the simulator serves to acc for query, page after page.
func served(t *testing.T, s sim.Simulator, acc, query string) []bemo.Session {
	t.Helper()
	var all []bemo.Session
	for page := 0; ; page++ {
		resp := get(t, s, sessionsPath(acc, fmt.Sprintf("limit=1000&offset=%d&%s", page, query)), nil)
		if resp.status != 200 {
			t.Fatalf("%s %s: status %d: %s", acc, query, resp.status, resp.body)
		}
		var env struct{ Data []bemo.Session }
		if err := json.Unmarshal(resp.body, &env); err != nil {
			t.Fatal(err)
		}
		all = append(all, env.Data...)
		if len(env.Data) < 1000 {
			return all
		}
	}
}

// servedState returns what the simulator serves over all accounts: each session by id, and
// the exact money per currency.
func servedState(t *testing.T, s sim.Simulator) (map[string]bemo.Session, map[string]string) {
	t.Helper()
	byID := map[string]bemo.Session{}
	amounts := map[string][]string{}
	for _, acc := range bemo.SimAccounts() {
		for _, ss := range served(t, s, acc, "") {
			byID[ss.SessionID] = ss
			for _, tx := range ss.Transactions {
				amounts[tx.CurrencyKey] = append(amounts[tx.CurrencyKey], tx.TotalAmount.String())
			}
		}
	}
	totals := map[string]string{}
	for cur, a := range amounts {
		sum, err := events.AddDecimals(a...)
		if err != nil {
			t.Fatal(err)
		}
		totals[cur] = sum
	}
	return byID, totals
}

// TestSimulatorDefaultOutputUnchanged: with no reading on, the simulator serves byte for byte
// what it served before the readings existed. testdata/sim_default.sha256 holds the SHA-256 of
// each account's sessions (seed 9, 300 records) at three instants and under a lastCreated
// query, written with the simulator as it was before them; never rewrite it.
func TestSimulatorDefaultOutputUnchanged(t *testing.T) {
	clk := providertest.NewClock(testNow)
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 9, Records: 300, Now: clk.Now})
	var b strings.Builder
	for _, at := range []time.Duration{0, 30 * time.Hour, 10 * 24 * time.Hour} {
		clk.Set(testNow.Add(at))
		for _, acc := range bemo.SimAccounts() {
			for _, q := range []string{"limit=1000", "limit=1000&lastCreated=2026-11-19&from=2026-11-14&to=2026-11-18"} {
				sum := sha256.Sum256(get(t, s, sessionsPath(acc, q), nil).body)
				fmt.Fprintf(&b, "%s %s %s %s\n", clk.Now().Format(time.RFC3339), acc, q, hex.EncodeToString(sum[:]))
			}
		}
	}
	if want := string(providertest.Testdata(t, "sim_default.sha256")); b.String() != want {
		t.Errorf("the default simulator's output changed:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestSimulatorLateCreated: under Readings.LateCreated about one session in 100 appears days
// after it ended and about one in 100 changes one transaction's amount days later; lastCreated
// finds both, and Truth is the state served at the simulator's clock. The other sessions are
// the plain simulator's.
func TestSimulatorLateCreated(t *testing.T) {
	const records = 3000
	clk := providertest.NewClock(testNow)
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 4, Records: records, Now: clk.Now, Readings: sim.Readings{LateCreated: true}})
	plain := bemo.Provider{}.NewSimulator(sim.Options{Seed: 4, Records: records, Now: clk.Now})

	// Two days on, every session created on time exists; late ones and corrections are to come.
	firstLook := testNow.Add(48 * time.Hour)
	clk.Set(firstLook)
	before, beforeTotals := servedState(t, s)
	checkTruth(t, s, before, beforeTotals)
	plainAll, _ := servedState(t, plain)
	if len(plainAll) != records {
		t.Fatalf("the plain simulator serves %d sessions two days on, want all %d", len(plainAll), records)
	}

	clk.Set(testNow.Add(12 * 24 * time.Hour))
	after, afterTotals := servedState(t, s)
	checkTruth(t, s, after, afterTotals)
	if len(after) != records {
		t.Fatalf("twelve days on, %d sessions served, want all %d", len(after), records)
	}
	var late, corrected, changedSinceFirstLook []string
	for id, ss := range after {
		old, seen := before[id]
		switch {
		case !seen:
			late = append(late, id)
			if !jsonEqual(ss, plainAll[id]) {
				t.Errorf("late session %s differs from the plain simulator's", id)
			}
			end, _ := time.Parse(time.RFC3339, ss.SessionEndDate)
			if firstLook.Sub(end) < 0 {
				t.Errorf("late session %s ended %s, after the first look", id, ss.SessionEndDate)
			}
		case !jsonEqual(ss, plainAll[id]):
			corrected = append(corrected, id)
			diffs := 0
			for i := range ss.Transactions {
				if ss.Transactions[i].TotalAmount != plainAll[id].Transactions[i].TotalAmount {
					diffs++
				}
			}
			if diffs != 1 || len(ss.Transactions) != len(plainAll[id].Transactions) {
				t.Errorf("corrected session %s changed %d transaction amounts, want 1", id, diffs)
			}
		}
		if seen && !jsonEqual(old, ss) {
			changedSinceFirstLook = append(changedSinceFirstLook, id)
		}
	}
	t.Logf("%d of %d sessions created late, %d corrected (%d after the first look); totals %v → %v",
		len(late), records, len(corrected), len(changedSinceFirstLook), beforeTotals, afterTotals)
	// About 1% each; half of the late ones were created before the first look already.
	if len(late) == 0 || len(late) > records/50 || len(corrected) < records/200 || len(corrected) > records/50 {
		t.Errorf("%d late (after the first look) and %d corrected sessions of %d, want about 1%% each", len(late), len(corrected), records)
	}
	if len(changedSinceFirstLook) == 0 {
		t.Error("no correction happened after the first look")
	}

	// lastCreated=D serves what was created or corrected on D or later: everything new since
	// the first look, and few others (those created on D before the first look).
	day := firstLook.Format(time.DateOnly)
	found := map[string]bool{}
	for _, acc := range bemo.SimAccounts() {
		for _, ss := range served(t, s, acc, "lastCreated="+day) {
			found[ss.SessionID] = true
		}
	}
	for _, id := range append(slices.Clone(late), changedSinceFirstLook...) {
		if !found[id] {
			t.Errorf("session %s (late or corrected after the first look) is not served under lastCreated=%s", id, day)
		}
	}
	if len(found) >= records/10 {
		t.Errorf("lastCreated=%s serves %d sessions: it does not filter", day, len(found))
	}
}

// checkTruth compares Truth with what the simulator serves.
func checkTruth(t *testing.T, s sim.Simulator, byID map[string]bemo.Session, totals map[string]string) {
	t.Helper()
	truth := s.Truth()
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if truth.Records != len(ids) || !slices.Equal(truth.IDs, ids) {
		t.Errorf("Truth holds %d records (%d ids), the simulator serves %d", truth.Records, len(truth.IDs), len(ids))
	}
	if fmt.Sprint(truth.Totals) != fmt.Sprint(totals) {
		t.Errorf("Truth totals %v, served %v", truth.Totals, totals)
	}
}

func jsonEqual(a, b bemo.Session) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestSimulatorOversizedSession: Readings.OversizedBytes makes one session of acc-1 at least
// that large, inside a page (a neighbour on each side), counted by Truth.
func TestSimulatorOversizedSession(t *testing.T) {
	const size = 1 << 20
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 2, Records: 300, Now: providertest.Fixed(testNow.Add(48 * time.Hour)),
		Readings: sim.Readings{OversizedBytes: size}})
	truth := s.Truth()
	if len(truth.Oversized) != 1 {
		t.Fatalf("Truth.Oversized = %v, want one id", truth.Oversized)
	}
	id := truth.Oversized[0]
	byID, totals := servedState(t, s)
	checkTruth(t, s, byID, totals)
	if _, ok := byID[id]; !ok {
		t.Fatalf("oversized session %s is not served", id)
	}
	day := byID[id].SessionStartDate[:10]
	resp := get(t, s, sessionsPath("acc-1", "limit=3&from="+day+"&to="+day), nil)
	var env struct{ Data []json.RawMessage }
	if err := json.Unmarshal(resp.body, &env); err != nil {
		t.Fatal(err)
	}
	if len(env.Data) != 3 {
		t.Fatalf("first page of %s holds %d sessions, want 3", day, len(env.Data))
	}
	var mid bemo.Session
	if err := json.Unmarshal(env.Data[1], &mid); err != nil || mid.SessionID != id {
		t.Fatalf("the middle session of the first page of %s is %s (%v), want the oversized %s", day, mid.SessionID, err, id)
	}
	if len(env.Data[1]) < size || len(env.Data[0]) > 4096 || len(env.Data[2]) > 4096 {
		t.Errorf("page sizes %d, %d, %d bytes: want the middle one ≥ %d and ordinary neighbours", len(env.Data[0]), len(env.Data[1]), len(env.Data[2]), size)
	}
	for _, tx := range mid.Transactions {
		if tx.CurrencyKey != mid.Transactions[0].CurrencyKey {
			t.Fatalf("oversized session mixes currencies: %s and %s", tx.CurrencyKey, mid.Transactions[0].CurrencyKey)
		}
	}
}
