package bemo_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// TestSourceSweepsLateAndCorrectedSessions polls a simulator whose sessions are partly created,
// or corrected, days after they started (Readings.LateCreated) every six hours for twelve days,
// keeping the latest version of each session as the pipeline downstream does. After every
// poll the ids and the money per currency are the simulator's, although no closed day is ever
// requested again: the late sessions and the corrections of closed days come from the sweep.
func TestSourceSweepsLateAndCorrectedSessions(t *testing.T) {
	clk := providertest.NewClock(time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC))
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 6, Records: 1500, Now: clk.Now, Readings: sim.Readings{LateCreated: true}})
	srv := providertest.Serve(t, s)
	cfg := testConfig(srv.URL)
	cfg.PageSize = 20
	src := newSource(t, cfg, srv.Client(), clk.Now)

	latest := map[string][]byte{} // session id → the bytes emitted last
	cps := map[string]poll.Checkpoint{}
	closedAt := map[string]int{} // request key of a closed day → its requests when it closed
	var swept, sweptNew, sweptChanged int
	for poll := 0; clk.Now().Before(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)); poll++ {
		for _, acc := range bemo.SimAccounts() {
			next := day("2026-11-12")
			if cps[acc] != "" {
				var err error
				if next, err = bemo.ParseCheckpoint(cps[acc]); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range providertest.FetchAll(t, src, acc, cps[acc]) {
				if r.Next != "" {
					cps[acc] = r.Next
				}
				if r.Data == nil {
					continue
				}
				var ss bemo.Session
				if err := json.Unmarshal(r.Data, &ss); err != nil {
					t.Fatal(err)
				}
				// A record of a day before the poll's next_day can only come from the sweep.
				if start, _ := time.Parse(time.RFC3339, ss.SessionStartDate); utcDate(start).Before(next) {
					swept++
					switch old, ok := latest[r.ID]; {
					case !ok:
						sweptNew++
					case string(old) != string(r.Data):
						sweptChanged++
					}
				}
				latest[r.ID] = r.Data
			}
		}
		req := s.Truth().Requests
		for k, n := range closedAt {
			if req[k] != n {
				t.Fatalf("poll %d at %s: closed day %q requested again (%d requests, %d when it closed)", poll, clk.Now(), k, req[k], n)
			}
		}
		for _, acc := range bemo.SimAccounts() {
			next, _ := bemo.ParseCheckpoint(cps[acc])
			for d := day("2026-11-12"); d.Before(next); d = d.AddDate(0, 0, 1) {
				if k := requestKey(acc, d.Format(time.DateOnly)); closedAt[k] == 0 {
					closedAt[k] = req[k]
				}
			}
		}
		compareWithTruth(t, fmt.Sprintf("poll %d at %s", poll, clk.Now().Format(time.RFC3339)), latest, s.Truth())
		clk.Add(6 * time.Hour)
	}
	t.Logf("%d sessions; sweeps emitted %d records: %d new sessions, %d corrections, the rest again (the sweep day is asked again)", len(latest), swept, sweptNew, sweptChanged)
	if sweptNew == 0 || sweptChanged == 0 {
		t.Errorf("the sweeps brought %d new and %d corrected sessions: the test saw no late session or correction of a closed day", sweptNew, sweptChanged)
	}
	if want := checkpointOf("2026-11-30", "2026-12-01"); cps["acc-1"] != want { // polled last at 18:00 on the 1st
		t.Errorf("last checkpoint %s, want %s", cps["acc-1"], want)
	}
}

// compareWithTruth fails t unless the latest versions hold exactly Truth's ids and money.
func compareWithTruth(t *testing.T, when string, latest map[string][]byte, truth sim.Truth) {
	t.Helper()
	ids := make([]string, 0, len(latest))
	amounts := map[string][]string{}
	for id, data := range latest {
		ids = append(ids, id)
		var ss bemo.Session
		if err := json.Unmarshal(data, &ss); err != nil {
			t.Fatal(err)
		}
		for _, tx := range ss.Transactions {
			amounts[tx.CurrencyKey] = append(amounts[tx.CurrencyKey], tx.TotalAmount.String())
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, truth.IDs) {
		t.Fatalf("%s: %d sessions emitted, the simulator holds %d", when, len(ids), len(truth.IDs))
	}
	for cur, want := range truth.Totals {
		got, err := events.AddDecimals(amounts[cur]...)
		if err != nil || got != want {
			t.Fatalf("%s: %s total of the latest versions %s (%v), the simulator's %s", when, cur, got, err, want)
		}
	}
	if len(amounts) != len(truth.Totals) {
		t.Fatalf("%s: currencies %d, the simulator's %v", when, len(amounts), truth.Totals)
	}
}

func utcDate(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// TestSourceUpgradesACheckpointWithoutSweepDate: a checkpoint written before the sweep
// existed ({"next_day": D}, also what CheckpointAt and backfills write) is read as swept on D:
// its first poll asks for the sessions of the earlier days created on D or later, and the
// marker after that sweep, before the open days' sessions, carries both dates.
func TestSourceUpgradesACheckpointWithoutSweepDate(t *testing.T) {
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 3, Records: 400, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))

	old := poll.Checkpoint(`{"next_day":"2026-11-18"}`)
	if old != bemo.CheckpointAt(day("2026-11-18")) {
		t.Fatalf("CheckpointAt = %s, want the old form %s", bemo.CheckpointAt(day("2026-11-18")), old)
	}
	recs := providertest.FetchAll(t, src, "acc-1", old)
	marks, open := providertest.Split(recs)
	// The 18th closes (read whole), then the sweep of the 12th … 17th for what was created on
	// the 18th or later, then the open 19th and 20th.
	if want := []poll.Checkpoint{checkpointOf("2026-11-19", "2026-11-18"), checkpointOf("2026-11-19", "2026-11-20")}; !slices.Equal(marks, want) {
		t.Fatalf("markers %q, want %q", marks, want)
	}
	req := s.Truth().Requests
	if k := sweepKey("acc-1", "2026-11-18", "2026-11-12", "2026-11-17"); req[k] == 0 {
		t.Fatalf("no sweep %q: %v", k, req)
	}
	var sweptIDs []string
	inSweep := false
	for _, r := range recs {
		switch {
		case r.Data == nil:
			inSweep = !inSweep
		case inSweep:
			sweptIDs = append(sweptIDs, r.ID)
		}
	}
	var want []string
	for _, ss := range served(t, s, "acc-1", "from=2026-11-12&to=2026-11-17&lastCreated=2026-11-18") {
		want = append(want, ss.SessionID)
	}
	if len(want) == 0 {
		t.Fatal("the simulator created nothing of the 12th … 17th on the 18th or later: the test checks nothing")
	}
	if !slices.Equal(sweptIDs, want) {
		t.Errorf("the sweep emitted %v, the simulator serves %v", sweptIDs, want)
	}
	var openWant []string
	for _, ss := range served(t, s, "acc-1", "from=2026-11-19&to=2026-11-20") {
		openWant = append(openWant, ss.SessionID)
	}
	if !slices.Equal(open, openWant) {
		t.Errorf("after the last marker %d sessions, want the open days' %d", len(open), len(openWant))
	}

	// The backfill helpers read both forms as the day they resume at.
	for _, cp := range []poll.Checkpoint{old, marks[1]} {
		at, err := bemo.Provider{}.CheckpointTime(cp)
		if err != nil || (!at.Equal(day("2026-11-18")) && !at.Equal(day("2026-11-19"))) {
			t.Errorf("CheckpointTime(%s) = %v, %v", cp, at, err)
		}
	}
	if cp, err := (bemo.Provider{}).BackfillCheckpoint(time.Date(2026, 11, 14, 9, 30, 0, 0, time.UTC)); err != nil || cp != `{"next_day":"2026-11-14"}` {
		t.Errorf("BackfillCheckpoint = %s, %v", cp, err)
	}
}

// TestSourceEmitsARepeatedSessionOnce: offset paging over a list that grows between two
// requests serves the previous page's last session again; the sweep emits it once, but a
// session whose bytes changed between two pages (corrected meanwhile) is emitted again.
func TestSourceEmitsARepeatedSessionOnce(t *testing.T) {
	session := func(id, amount string) string {
		return `{"sessionId":"` + id + `","sessionStartDate":"2026-11-14T10:00:00Z","transactions":[{"currencyKey":"EUR","totalAmount":` + amount + `}]}`
	}
	pages := [][]string{
		{session("a", "1.0"), session("b", "2.0"), session("c", "3.0")},
		{session("c", "3.0"), session("d", "4.0"), session("e", "5.0")}, // a session was added ahead: c again
		{session("e", "5.5"), session("f", "6.0")},                      // e was corrected meanwhile
	}
	var queries []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		queries = append(queries, r.URL.RawQuery)
		var data []string
		if q.Get("lastCreated") != "" {
			var page int
			fmt.Sscan(q.Get("offset"), &page)
			if page < len(pages) {
				data = pages[page]
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"Success","errors":null,"data":[%s],"trace":null,"version":"1.0"}`, strings.Join(data, ","))
	})
	srv := providertest.Serve(t, h)
	src := newSource(t, testConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))

	recs := providertest.FetchAll(t, src, "acc-1", checkpointOf("2026-11-19", "2026-11-19"))
	var got []string
	for _, r := range recs {
		if r.Data != nil {
			var ss struct {
				Transactions []struct{ TotalAmount json.Number }
			}
			_ = json.Unmarshal(r.Data, &ss)
			got = append(got, r.ID+"="+ss.Transactions[0].TotalAmount.String())
		}
	}
	if want := []string{"a=1.0", "b=2.0", "c=3.0", "d=4.0", "e=5.0", "e=5.5", "f=6.0"}; !slices.Equal(got, want) {
		t.Errorf("emitted %v, want %v", got, want)
	}
	if marks, _ := providertest.Split(recs); !slices.Equal(marks, []poll.Checkpoint{checkpointOf("2026-11-19", "2026-11-20")}) {
		t.Errorf("markers %q", marks)
	}
	want := "from=2026-11-12&lastCreated=2026-11-19&limit=3&offset=0&to=2026-11-18"
	if !slices.Contains(queries, want) {
		t.Errorf("queries %q: no sweep %q", queries, want)
	}
}

// TestSourceEmitsAnOversizedSessionWhole: a session above NATS's max payload
// (Readings.OversizedBytes) is emitted like any other, bytes intact, between its page
// neighbours: deciding that the bus cannot take it is the scheduler's (a gap).
func TestSourceEmitsAnOversizedSessionWhole(t *testing.T) {
	const size = 2 << 20
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 2, Records: 300, Now: providertest.Fixed(testNow), Readings: sim.Readings{OversizedBytes: size}})
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	truth := s.Truth()
	if len(truth.Oversized) != 1 {
		t.Fatalf("Truth.Oversized = %v", truth.Oversized)
	}
	var ids []string
	for _, r := range providertest.FetchAll(t, src, "acc-1", "") {
		if r.Data == nil {
			continue
		}
		ids = append(ids, r.ID)
		if r.ID == truth.Oversized[0] && len(r.Data) < size {
			t.Errorf("oversized session emitted with %d bytes, want ≥ %d", len(r.Data), size)
		}
	}
	i := slices.Index(ids, truth.Oversized[0])
	if i <= 0 || i == len(ids)-1 {
		t.Fatalf("oversized session at %d of %d emitted records, want one between two others", i, len(ids))
	}
}
