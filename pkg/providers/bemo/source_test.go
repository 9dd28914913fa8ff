package bemo_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

func newSource(t *testing.T, cfg bemo.Config, hc *http.Client, now func() time.Time) *bemo.Source {
	t.Helper()
	src, err := bemo.NewSource(cfg, hc, now)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func requestKey(acc, d string) string { return acc + " " + d + ".." + d }

// sweepKey is the simulator's request key of a lastCreated sweep.
func sweepKey(acc, lastCreated, from, to string) string {
	return acc + " lastCreated=" + lastCreated + " " + from + ".." + to
}

// checkpointOf is the source's checkpoint text.
func checkpointOf(next, swept string) poll.Checkpoint {
	return poll.Checkpoint(`{"next_day":"` + next + `","swept":"` + swept + `"}`)
}

func TestSourceNeverRefetchesClosedDays(t *testing.T) {
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 3, Records: 200, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))

	first := providertest.FetchAll(t, src, "acc-1", "")
	marks, open := providertest.Split(first)
	// A first poll reads its days whole: nothing before them to sweep, and the sweep date is
	// today from the start.
	var want []poll.Checkpoint
	for d := day("2026-11-13"); !d.After(day("2026-11-19")); d = d.AddDate(0, 0, 1) {
		want = append(want, checkpointOf(d.Format(time.DateOnly), "2026-11-20"))
	}
	if len(marks) != len(want) {
		t.Fatalf("markers %q, want one per closed day: %q", marks, want)
	}
	for i := range want {
		if marks[i] != want[i] {
			t.Fatalf("marker %d = %q, want %q", i, marks[i], want[i])
		}
	}
	if last := marks[len(marks)-1]; last != `{"next_day":"2026-11-19","swept":"2026-11-20"}` {
		t.Fatalf("last checkpoint %s, want next_day 2026-11-19 (19th and 20th are open), swept today", last)
	}
	for k := range s.Truth().Requests {
		if strings.Contains(k, "lastCreated") {
			t.Errorf("the first poll swept (%s): it reads every day whole", k)
		}
	}

	before := s.Truth().Requests
	again := providertest.FetchAll(t, src, "acc-1", marks[len(marks)-1])
	after := s.Truth().Requests
	for d := day("2026-11-12"); !d.After(day("2026-11-18")); d = d.AddDate(0, 0, 1) {
		k := requestKey("acc-1", d.Format("2006-01-02"))
		if before[k] == 0 || after[k] != before[k] {
			t.Errorf("closed day %s: %d requests in the first poll, %d after the re-poll; want >0 and no more", k, before[k], after[k])
		}
	}
	for _, d := range []string{"2026-11-19", "2026-11-20"} {
		if k := requestKey("acc-1", d); after[k] <= before[k] {
			t.Errorf("open day %s was not re-read", k)
		}
	}
	// The closed days cost one request more per poll: what Be-Mo created today for them.
	if k := sweepKey("acc-1", "2026-11-20", "2026-11-12", "2026-11-18"); after[k] != 1 {
		t.Errorf("re-poll: %d requests %q, want 1 (requests %v)", after[k], k, after)
	}
	marks2, ids := providertest.Split(again)
	if len(marks2) != 0 {
		t.Errorf("the re-poll moved the checkpoint: %q", marks2)
	}
	if len(ids) != len(open) {
		t.Fatalf("the re-poll of the open days gave %d records, the first poll %d", len(ids), len(open))
	}
	for i := range ids {
		if ids[i] != open[i] {
			t.Fatalf("open-day record %d: %s then %s", i, open[i], ids[i])
		}
	}
}

func TestSourcePicksUpLateSessions(t *testing.T) {
	clk := providertest.NewClock(time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC))
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 5, Records: 240, Now: clk.Now})
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client(), clk.Now)

	seen := map[string]bool{}
	cps := map[string]poll.Checkpoint{}
	pollAll := func() (fresh int) {
		for _, acc := range bemo.SimAccounts() {
			recs := providertest.FetchAll(t, src, acc, cps[acc])
			for _, r := range recs {
				if r.Next != "" {
					cps[acc] = r.Next
				}
				if r.Data != nil && !seen[r.ID] {
					seen[r.ID] = true
					fresh++
				}
			}
		}
		return fresh
	}
	pollAll()
	if len(seen) != s.Truth().Records {
		t.Fatalf("first poll saw %d sessions, the simulator holds %d", len(seen), s.Truth().Records)
	}
	for _, at := range []time.Time{
		time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC), // same day: sessions of the open days arrive
		time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), // next day: the 19th closes
		time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
	} {
		clk.Set(at)
		before := len(seen)
		fresh := pollAll()
		if want := s.Truth().Records; len(seen) != want {
			t.Fatalf("at %s: %d sessions seen over all polls, the simulator holds %d", at, len(seen), want)
		}
		if fresh == 0 && s.Truth().Records > before {
			t.Fatalf("at %s: late sessions were not picked up", at)
		}
	}
	if got, want := cps["acc-1"], checkpointOf("2026-11-22", "2026-11-22"); got != want {
		t.Errorf("checkpoint on the 23rd = %s, want %s", got, want)
	}
}

func TestSourceDefaultStartIs30DaysBack(t *testing.T) {
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 10, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	cfg := testConfig(srv.URL)
	cfg.StartDate = ""
	providertest.FetchAll(t, newSource(t, cfg, srv.Client(), providertest.Fixed(testNow)), "acc-1", "")
	req := s.Truth().Requests
	if req[requestKey("acc-1", "2026-10-21")] != 1 || req[requestKey("acc-1", "2026-10-20")] != 0 {
		t.Errorf("first poll did not start on 2026-10-21: %v", req)
	}
}

func TestSourceStops(t *testing.T) {
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 30, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	errStop := errors.New("stop")
	providertest.CheckFetchFailures(t, src, errStop, []providertest.FetchFailure{
		{Name: "unknown scope", Scope: "acc-9", Is: poll.ErrPermanent},
		{Name: "malformed checkpoint", Scope: "acc-1", From: "2026-11-19", Is: poll.ErrPermanent},
		{Name: "checkpoint without a date", Scope: "acc-1", From: `{"next_day":"soon"}`, Is: poll.ErrPermanent},
		{Name: "checkpoint with a bad sweep date", Scope: "acc-1", From: `{"next_day":"2026-11-19","swept":"yesterday"}`, Is: poll.ErrPermanent},
		{Name: "emit error", Scope: "acc-1", Emit: func(poll.Record) error { return errStop }, Is: errStop},
	})
}

func TestSourceScopesAreAccounts(t *testing.T) {
	src := newSource(t, testConfig("http://127.0.0.1:8081"), nil, nil)
	scopes, err := src.Scopes(t.Context())
	if err != nil || len(scopes) != 3 || scopes[0] != "acc-1" {
		t.Fatalf("Scopes = %v, %v", scopes, err)
	}
}
