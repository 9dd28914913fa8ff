package pip_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/pip"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

func newSource(t *testing.T, cfg pip.Config, hc *http.Client) *pip.Source {
	t.Helper()
	src, err := pip.NewSource(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// fetchAll fetches the default export from the checkpoint from.
func fetchAll(t *testing.T, src *pip.Source, from poll.Checkpoint) []poll.Record {
	t.Helper()
	return providertest.FetchAll(t, src, pip.DefaultExport, from)
}

// dataIDs lists the ids of the data records, in order.
func dataIDs(recs []poll.Record) []string {
	var ids []string
	for _, r := range recs {
		if r.Data != nil {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// lastCheckpoint is the Next of the last record that has one ("" when none).
func lastCheckpoint(recs []poll.Record) poll.Checkpoint {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Next != "" {
			return recs[i].Next
		}
	}
	return ""
}

// checkExactly fails unless got is want, in order: every session once, none lost.
func checkExactly(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("session %s emitted %d times", id, n)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("session %s lost", id)
		}
	}
	t.Fatalf("emitted %d sessions, want the export's %d in order", len(got), len(want))
}

// tieGroups returns the sizes of the runs of equal completion times, in order.
func tieGroups(at []string) []int {
	var sizes []int
	for i := range at {
		if i > 0 && at[i] == at[i-1] {
			sizes[len(sizes)-1]++
			continue
		}
		sizes = append(sizes, 1)
	}
	return sizes
}

func TestSimulatorPlantsTheTies(t *testing.T) {
	_, at := pip.SimSessions(newSim(sim.Options{Seed: 4, Records: 40, Now: providertest.Fixed(testNow)}))
	if at[3] == at[4] || at[4] != at[8] || at[8] == at[9] {
		t.Errorf("sessions 4–8 are not one group of five: %q", at[3:10])
	}
	big := 2*testPageSize + testPageSize/3
	if at[big-1] == at[big] || at[big] != at[big+testPageSize+2] || at[big+testPageSize+2] == at[big+testPageSize+3] {
		t.Errorf("sessions %d–%d are not one group of %d: %q", big, big+testPageSize+2, testPageSize+3, at[big-1:big+testPageSize+4])
	}
	if slices.Max(tieGroups(at)) != testPageSize+3 {
		t.Errorf("groups %v", tieGroups(at))
	}
}

func TestSourceTieAcrossThePageBoundaryAndTieLargerThanAPage(t *testing.T) {
	s := newSim(sim.Options{Seed: 4, Records: 40, Now: providertest.Fixed(testNow)})
	want, at := pip.SimSessions(s)
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client())

	recs := fetchAll(t, src, "")
	checkExactly(t, dataIDs(recs), want)
	if g := gaps(recs); len(g) != 0 {
		t.Errorf("gaps %+v: the group of nine was returned whole", g)
	}

	// The first page ended inside the group of five (sessions 4–8), so the second request
	// started before it; the group of nine was returned whole, above the page size.
	req := s.Truth().Requests
	if req["completedAfter="+at[3]] != 1 {
		t.Errorf("no request resumed before the group of five (completedAfter=%s): %v", at[3], req)
	}
	big := 2*testPageSize + testPageSize/3
	if req["completedAfter="+at[big-1]] != 1 && req["completedAfter="+at[big-2]] != 1 {
		t.Errorf("no request resumed right before the group of nine: %v", req)
	}
	for k, n := range req {
		if n != 1 {
			t.Errorf("%s requested %d times in one poll; a cursor is never asked twice", k, n)
		}
	}

	// Polling again from the last checkpoint asks only for what came after the last session.
	cp := lastCheckpoint(recs)
	after, pending, err := pip.ParseCheckpoint(cp)
	if err != nil || after != at[len(at)-1] || len(pending) != 0 {
		t.Fatalf("final checkpoint %s: completedAfter %q, pending %v, %v; want the last completion time %s and nothing pending", cp, after, pending, err, at[len(at)-1])
	}
	if again := fetchAll(t, src, cp); len(dataIDs(again)) != 0 {
		t.Errorf("re-poll from %s emitted %v", cp, dataIDs(again))
	}
	last := "completedAfter=" + at[len(at)-1]
	for k, n := range s.Truth().Requests {
		if k != last && n != req[k] || k == last && n != req[k]+1 {
			t.Errorf("re-poll asked %s (%d times, %d before); want only %s once more", k, n, req[k], last)
		}
	}
}

func TestSourceResumesFromEveryCheckpoint(t *testing.T) {
	s := newSim(sim.Options{Seed: 4, Records: 40, Now: providertest.Fixed(testNow)})
	want, _ := pip.SimSessions(s)
	src := newSource(t, testConfig(inMemory), providertest.HandlerClient(s))
	errStop := errors.New("stop")
	checkpoints := 0
	// Stop the poll after every possible number of sessions (inside the groups of five and
	// nine included), resume from the last checkpoint that was durable, and compare.
	for stop := 1; stop <= len(want); stop++ {
		var before []poll.Record
		n := 0
		err := src.Fetch(t.Context(), pip.DefaultExport, "", func(r poll.Record) error {
			before = append(before, r)
			if r.Data != nil {
				if n++; n == stop {
					return errStop
				}
			}
			return nil
		})
		if !errors.Is(err, errStop) {
			t.Fatalf("stop after %d: Fetch = %v", stop, err)
		}
		// The stopping record is not durable: the checkpoint is the one before it.
		durable := before[:len(before)-1]
		cp := lastCheckpoint(durable)
		covered := 0
		for i, r := range durable {
			if r.Next == cp {
				covered = len(dataIDs(durable[:i+1]))
			}
		}
		if cp != "" {
			checkpoints++
		}
		resumed := fetchAll(t, src, cp)
		got := append(dataIDs(durable)[:covered:covered], dataIDs(resumed)...)
		t.Run(fmt.Sprintf("stop after %d", stop), func(t *testing.T) { checkExactly(t, got, want) })
	}
	if checkpoints < len(want)-1 {
		t.Errorf("only %d of %d stops had a checkpoint to resume from", checkpoints, len(want))
	}
}

func TestSourcePicksUpNewSessions(t *testing.T) {
	clk := providertest.NewClock(time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC))
	s := newSim(sim.Options{Seed: 5, Records: 120, Now: clk.Now})
	src := newSource(t, testConfig(inMemory), providertest.HandlerClient(s))
	var got []string
	var cp poll.Checkpoint
	for _, at := range []time.Time{
		time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC), // nothing new
		time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC),
		time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), // everything
	} {
		clk.Set(at)
		start := "completedAfter=" + cursorOf(t, cp)
		before := s.Truth().Requests
		recs := fetchAll(t, src, cp)
		got = append(got, dataIDs(recs)...)
		if c := lastCheckpoint(recs); c != "" {
			cp = c
		}
		want, _ := pip.SimSessions(s)
		checkExactly(t, got, want)
		// A poll asks for its checkpoint's cursor and new ones, never an earlier cursor again.
		for k, n := range s.Truth().Requests {
			if before[k] > 0 && n > before[k] && k != start {
				t.Errorf("at %s: %s asked again (the poll started at %s)", at, k, start)
			}
		}
	}
	if n := s.Truth().Records; len(got) != n || n != 120 {
		t.Errorf("%d sessions over all polls, the simulator holds %d of 120", len(got), n)
	}
}

func cursorOf(t *testing.T, cp poll.Checkpoint) string {
	t.Helper()
	if cp == "" {
		return ""
	}
	after, _, err := pip.ParseCheckpoint(cp)
	if err != nil {
		t.Fatal(err)
	}
	return after
}

func TestSourceStartAfter(t *testing.T) {
	s := newSim(sim.Options{Seed: 5, Records: 60, Now: providertest.Fixed(testNow)})
	ids, at := pip.SimSessions(s)
	cfg := testConfig(inMemory)
	cfg.StartAfter = at[29]
	recs := fetchAll(t, newSource(t, cfg, providertest.HandlerClient(s)), "")
	var want []string
	for i := range ids {
		if at[i] > at[29] {
			want = append(want, ids[i])
		}
	}
	checkExactly(t, dataIDs(recs), want)
	if s.Truth().Requests["completedAfter="+at[29]] != 1 || s.Truth().Requests["completedAfter="] != 0 {
		t.Errorf("requests %v: the first poll must start after %s", s.Truth().Requests, at[29])
	}
}

// otherServer serves sessions under readings of the seed other than the simulator's: pages
// cut at exactly pageSize wherever that falls, exportedThrough the last session's time (or
// left out, or the last time it has delivered whole), completedAfter exclusive or inclusive.
// It accepts any bearer token.
type otherServer struct {
	sessions  []otherSession // in completion order
	pageSize  int
	inclusive bool
	noThrough bool
	// honest: exportedThrough is the last completion time whose sessions have all been
	// delivered (before a group the page cuts), or completedAfter as sent.
	honest   bool
	requests int
	asked    []string // completedAfter of each request
}

type otherSession struct {
	id string
	at time.Time
}

// tiedSessions are n sessions whose groups sharing a completion time have the given sizes.
func tiedSessions(sizes ...int) []otherSession {
	var out []otherSession
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	for g, k := range sizes {
		at = at.Add(time.Duration(1+g%3) * time.Second)
		for j := range k {
			out = append(out, otherSession{id: fmt.Sprintf("s%02d-%d", g, j), at: at})
		}
	}
	return out
}

func (o *otherServer) ids() []string {
	var ids []string
	for _, s := range o.sessions {
		ids = append(ids, s.id)
	}
	return ids
}

func (o *otherServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.requests++
	v := r.URL.Query().Get("completedAfter")
	o.asked = append(o.asked, v)
	var after time.Time
	if v != "" {
		after, _ = time.Parse(time.RFC3339, v)
	}
	var page []json.RawMessage
	var last, whole string
	for _, s := range o.sessions {
		if !after.IsZero() && (s.at.Before(after) || (!o.inclusive && s.at.Equal(after))) {
			continue
		}
		at := s.at.Format(time.RFC3339)
		if len(page) == o.pageSize {
			if at == last {
				last = whole // the page cut this group
			}
			break
		}
		if at != last {
			whole = last
		}
		last = at
		b, _ := json.Marshal(map[string]string{"sessionId": s.id, "pipId": "PIP-1", "storeNumber": "1", "completedAt": at})
		page = append(page, b)
	}
	body := map[string]any{"data": page}
	switch {
	case o.honest && last == "":
		body["exportedThrough"] = v
	case o.honest || !o.noThrough && last != "":
		body["exportedThrough"] = last
	}
	b, _ := json.Marshal(body)
	w.Write(b)
}

func TestSourceUnderOtherReadingsOfTheAPI(t *testing.T) {
	groups := []int{1, 2, 5, 1, 3, 5, 1, 4, 2, 1, 5, 5, 1}
	tests := []struct {
		name   string
		server *otherServer
	}{
		{"cuts anywhere, exportedThrough at the cut group", &otherServer{sessions: tiedSessions(groups...), pageSize: 6}},
		{"cuts anywhere, no exportedThrough", &otherServer{sessions: tiedSessions(groups...), pageSize: 6, noThrough: true}},
		{"inclusive completedAfter", &otherServer{sessions: tiedSessions(1, 2, 1, 3, 1, 1, 2, 1, 3, 2, 1), pageSize: 6, inclusive: true}},
		{"pages of one", &otherServer{sessions: tiedSessions(1, 1, 1, 1), pageSize: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := staticConfig(inMemory)
			cfg.PageSize = tc.server.pageSize
			src := newSource(t, cfg, providertest.HandlerClient(tc.server))
			recs := fetchAll(t, src, "")
			checkExactly(t, dataIDs(recs), tc.server.ids())
			if again := fetchAll(t, src, lastCheckpoint(recs)); len(dataIDs(again)) != 0 {
				t.Errorf("re-poll emitted %v", dataIDs(again))
			}
		})
	}
}

// gaps returns the gap records of recs.
func gaps(recs []poll.Record) []poll.Gap {
	var out []poll.Gap
	for _, r := range recs {
		if r.Gap != nil {
			if r.Data != nil || r.Next == "" {
				panic("a gap record carries data or no checkpoint")
			}
			out = append(out, *r.Gap)
		}
	}
	return out
}

// stampOf parses a completion time the tests wrote.
func stampOf(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func TestSourceTieSplitByAPageBoundaryIsReadWhole(t *testing.T) {
	// Pages of six; the group of four (s01) starts at the fifth session: the first page ends
	// inside it. Whatever exportedThrough says, the next request starts just before the
	// group (at s00's time) and the two sessions already emitted are dropped.
	for _, tc := range []struct {
		name   string
		server *otherServer
	}{
		{"exportedThrough at the cut group", &otherServer{sessions: tiedSessions(4, 4, 3), pageSize: 6}},
		{"exportedThrough before the cut group", &otherServer{sessions: tiedSessions(4, 4, 3), pageSize: 6, honest: true}},
		{"no exportedThrough", &otherServer{sessions: tiedSessions(4, 4, 3), pageSize: 6, noThrough: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource(t, staticConfig(inMemory), providertest.HandlerClient(tc.server))
			recs := fetchAll(t, src, "")
			checkExactly(t, dataIDs(recs), tc.server.ids())
			if g := gaps(recs); len(g) != 0 {
				t.Errorf("gaps %+v for a tie that fits in a page", g)
			}
			at := func(i int) string { return tc.server.sessions[i].at.Format(time.RFC3339) }
			if want := []string{"", at(3), at(7)}; !slices.Equal(tc.server.asked, want) {
				t.Errorf("completedAfter asked %q, want %q: from the beginning, just before the cut group, after it", tc.server.asked, want)
			}
		})
	}
}

func TestSourceTieLargerThanAPageIsOneGap(t *testing.T) {
	// Pages of six. In each case one instant is shared by more sessions than a page holds (or
	// by exactly a page, which no response tells apart from more): the sessions a page can
	// hold are emitted, then one gap at that instant saying how many were read, and the poll
	// goes on after it. Requests never repeat a completedAfter.
	tests := []struct {
		name   string
		server *otherServer
		tie    int // index of the group sharing the instant
		read   int // sessions of it read
	}{
		{"tie after a page boundary, exportedThrough at the tie", &otherServer{sessions: tiedSessions(2, 8, 3), pageSize: 6}, 1, 6},
		{"tie after a page boundary, exportedThrough before it", &otherServer{sessions: tiedSessions(2, 8, 3), pageSize: 6, honest: true}, 1, 6},
		{"tie after a page boundary, no exportedThrough", &otherServer{sessions: tiedSessions(2, 8, 3), pageSize: 6, noThrough: true}, 1, 6},
		{"tie first in the export", &otherServer{sessions: tiedSessions(20, 1), pageSize: 6}, 0, 6},
		{"tie last in the export", &otherServer{sessions: tiedSessions(1, 1, 7), pageSize: 6}, 2, 6},
		{"tie of exactly a page", &otherServer{sessions: tiedSessions(1, 6, 1), pageSize: 6}, 1, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource(t, staticConfig(inMemory), providertest.HandlerClient(tc.server))
			recs := fetchAll(t, src, "")
			// Expected: every session but those of the tie after its first tc.read (the
			// server's order within the tie).
			var instant time.Time
			var want, lost []string
			g, inTie := 0, 0
			for i, s := range tc.server.sessions {
				if i > 0 && !s.at.Equal(tc.server.sessions[i-1].at) {
					g++
				}
				if g == tc.tie {
					instant = s.at
					if inTie++; inTie > tc.read {
						lost = append(lost, s.id)
						continue
					}
				}
				want = append(want, s.id)
			}
			checkExactly(t, dataIDs(recs), want)
			got := gaps(recs)
			if len(got) != 1 {
				t.Fatalf("gaps %+v, want one", got)
			}
			if g := got[0]; g.Kind != poll.GapTie || g.Resource != pip.Resource || !g.At.Equal(instant) || g.Read != tc.read || !strings.Contains(g.Detail, instant.Format(time.RFC3339)) {
				t.Errorf("gap %+v, want a tie of invoicing at %s with %d read", g, instant, tc.read)
			}
			// The gap's checkpoint is after the instant, with nothing pending.
			for _, r := range recs {
				if r.Gap != nil {
					after, pending, err := pip.ParseCheckpoint(r.Next)
					if err != nil || after != instant.Format(time.RFC3339) || len(pending) != 0 {
						t.Errorf("gap checkpoint %s: completedAfter %q, pending %v, %v; want after %s", r.Next, after, pending, err, instant.Format(time.RFC3339))
					}
				}
			}
			for i, a := range tc.server.asked {
				if slices.Contains(tc.server.asked[:i], a) {
					t.Errorf("completedAfter %q asked twice: %q", a, tc.server.asked)
				}
			}
			// A re-poll from the last checkpoint neither reads the tie again nor reports it again.
			again := fetchAll(t, src, lastCheckpoint(recs))
			if len(dataIDs(again)) != 0 || len(gaps(again)) != 0 {
				t.Errorf("re-poll emitted %v and gaps %+v", dataIDs(again), gaps(again))
			}
			t.Logf("lost (reported by the gap): %v", lost)
		})
	}
}

func TestSourceTieGapResumesFromEveryCheckpoint(t *testing.T) {
	// Stop the poll at every record, the gap record included, and resume from the last
	// durable checkpoint: every readable session exactly once, and the gap reported exactly
	// once (a gap record not durable is reported again; a durable one moved the checkpoint).
	server := &otherServer{sessions: tiedSessions(2, 8, 3), pageSize: 6}
	src := newSource(t, staticConfig(inMemory), providertest.HandlerClient(server))
	full := fetchAll(t, src, "")
	want := dataIDs(full)
	errStop := errors.New("stop")
	for stop := 1; stop <= len(full); stop++ {
		var before []poll.Record
		n := 0
		err := src.Fetch(t.Context(), pip.DefaultExport, "", func(r poll.Record) error {
			before = append(before, r)
			if r.Data != nil || r.Gap != nil {
				if n++; n == stop {
					return errStop
				}
			}
			return nil
		})
		if !errors.Is(err, errStop) {
			continue // fewer data and gap records than stop
		}
		durable := before[:len(before)-1]
		cp := lastCheckpoint(durable)
		covered := 0
		for i, r := range durable {
			if r.Next == cp {
				covered = i + 1
			}
		}
		resumed := fetchAll(t, src, cp)
		got := append(dataIDs(durable[:covered]), dataIDs(resumed)...)
		t.Run(fmt.Sprintf("stop at %d", stop), func(t *testing.T) {
			checkExactly(t, got, want)
			g := append(gaps(durable[:covered]), gaps(resumed)...)
			if len(g) != 1 || g[0].Read != 6 {
				t.Errorf("gaps %+v, want one with 6 read", g)
			}
		})
	}
}

func TestSourceTieBeyondThePageOfTheSimulator(t *testing.T) {
	// Readings.TieBeyondPage: the simulator's planned large group (7 sessions at pages of six)
	// is served strictly, a page at most, with exportedThrough at its time.
	s := newSim(sim.Options{Seed: 4, Records: 40, Now: providertest.Fixed(testNow), Readings: sim.Readings{TieBeyondPage: true, RecordsKey: "sessions"}})
	readable := pip.SimReadableIDs(s)
	truth := s.Truth()
	all, _ := pip.SimSessions(s)
	if truth.Records != len(readable) || truth.Unreadable != 1 || truth.Records+truth.Unreadable != len(all) || len(truth.Gaps) != 1 ||
		!slices.Equal(truth.IDs, slices.Sorted(slices.Values(readable))) {
		t.Fatalf("truth %+v, %d readable of %d", truth, len(readable), len(all))
	}
	src := newSource(t, testConfig(inMemory), providertest.HandlerClient(s))
	recs := fetchAll(t, src, "")
	checkExactly(t, dataIDs(recs), readable)
	g := gaps(recs)
	if len(g) != 1 || !g[0].At.Equal(stampOf(t, truth.Gaps[0])) || g[0].Read != testPageSize {
		t.Fatalf("gaps %+v, want one at %s with %d read", g, truth.Gaps[0], testPageSize)
	}
	if again := fetchAll(t, src, lastCheckpoint(recs)); len(dataIDs(again)) != 0 || len(gaps(again)) != 0 {
		t.Errorf("re-poll emitted %v and gaps %+v", dataIDs(again), gaps(again))
	}
	for k, n := range s.Truth().Requests {
		if k != "completedAfter="+cursorOf(t, lastCheckpoint(recs)) && n != 1 {
			t.Errorf("%s requested %d times", k, n)
		}
	}
}

func TestSourceStopsWhenTheAPICannotPagePastATie(t *testing.T) {
	// An API reading completedAfter inclusively, pages of six, two sessions at one time and
	// seven at the next: asked after the first time, it sends those two again and four of the
	// seven, the same page each time. The seven never fill a page of their own, so this is not
	// a tie beyond a page, and no completedAfter the API wrote gets past it: fail loudly, not
	// loop.
	srv := &otherServer{sessions: tiedSessions(2, 7, 1), pageSize: 6, inclusive: true}
	cfg := staticConfig(inMemory)
	src := newSource(t, cfg, providertest.HandlerClient(srv))
	var ids []string
	var gapped []poll.Gap
	err := src.Fetch(t.Context(), pip.DefaultExport, "", func(r poll.Record) error {
		if r.Data != nil {
			ids = append(ids, r.ID)
		}
		if r.Gap != nil {
			gapped = append(gapped, *r.Gap)
		}
		return nil
	})
	if !errors.Is(err, poll.ErrPermanent) {
		t.Fatalf("Fetch = %v, want poll.ErrPermanent", err)
	}
	for _, want := range []string{"cannot page past", "GET " + inMemory + "/v1/data-export/posten/invoicing?completedAfter=", "report"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if srv.requests > 4 {
		t.Errorf("%d requests before giving up", srv.requests)
	}
	if len(ids) != len(slices.Compact(slices.Clone(ids))) {
		t.Errorf("duplicates emitted: %v", ids)
	}
	if len(gapped) != 0 {
		t.Errorf("gaps %+v, want none: the error says it", gapped)
	}
}

func TestSourceRefusesAPageOutOfOrder(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"exportedThrough":"2026-11-20T10:00:00Z","data":[
			{"sessionId":"b","completedAt":"2026-11-20T10:00:00Z"},{"sessionId":"a","completedAt":"2026-11-20T09:00:00Z"}]}`))
	})
	src := newSource(t, staticConfig(inMemory), providertest.HandlerClient(h))
	err := src.Fetch(t.Context(), pip.DefaultExport, "", func(poll.Record) error { return nil })
	if !errors.Is(err, poll.ErrPermanent) || !strings.Contains(err.Error(), "oldest-first order") {
		t.Fatalf("Fetch = %v, want a permanent error about the order", err)
	}
}

func TestSourceKeepsRecordsWithoutIDOrTime(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("completedAfter") != "" {
			w.Write([]byte(`{"exportedThrough":null,"data":[]}`))
			return
		}
		w.Write([]byte(`{"exportedThrough":"2026-11-20T10:00:00Z","data":[
			{"sessionId":"a","completedAt":"2026-11-20T09:00:00Z"},{"pipId":"PIP-1","completedAt":"2026-11-20T09:30:00Z"},
			{"sessionId":"c","completedAt":"half past nine"},"garbage",{"sessionId":"e","completedAt":"2026-11-20T10:00:00Z"}]}`))
	})
	recs := fetchAll(t, newSource(t, staticConfig(inMemory), providertest.HandlerClient(h)), "")
	ids := dataIDs(recs)
	if len(ids) != 5 || ids[0] != "a" || !strings.HasPrefix(ids[1], "no-session-id-") || ids[2] != "c" || !strings.HasPrefix(ids[3], "no-session-id-") || ids[4] != "e" {
		t.Fatalf("ids %v", ids)
	}
	if after := cursorOf(t, lastCheckpoint(recs)); after != "2026-11-20T10:00:00Z" {
		t.Errorf("cursor %q, want the last completion time", after)
	}
}

func TestSourceStops(t *testing.T) {
	s := newSim(sim.Options{Seed: 1, Records: 30, Now: providertest.Fixed(testNow)})
	src := newSource(t, testConfig(inMemory), providertest.HandlerClient(s))
	errStop := errors.New("stop")
	providertest.CheckFetchFailures(t, src, errStop, []providertest.FetchFailure{
		{Name: "unknown scope", Scope: "bring", Is: poll.ErrPermanent},
		{Name: "checkpoint not JSON", Scope: pip.DefaultExport, From: "2026-11-19T00:00:00Z", Is: poll.ErrPermanent},
		{Name: "checkpoint without a date-time", Scope: pip.DefaultExport, From: `{"completed_after":"soon"}`, Is: poll.ErrPermanent},
		{Name: "checkpoint with a bad group", Scope: pip.DefaultExport, From: `{"emitted":[{"completed_at":"x","ids":["a"]}]}`, Is: poll.ErrPermanent},
		{Name: "checkpoint with an empty id", Scope: pip.DefaultExport, From: `{"emitted":[{"completed_at":"2026-11-19T00:00:00Z","ids":[""]}]}`, Is: poll.ErrPermanent},
		{Name: "emit error", Scope: pip.DefaultExport, Emit: func(poll.Record) error { return errStop }, Is: errStop},
	})
}

func TestCheckpointAt(t *testing.T) {
	cp, err := pip.CheckpointAt("2026-11-19T00:00:00+01:00")
	if err != nil || cp != `{"completed_after":"2026-11-19T00:00:00+01:00"}` {
		t.Fatalf("CheckpointAt = %s, %v", cp, err)
	}
	if _, err := pip.CheckpointAt("yesterday"); err == nil {
		t.Error("CheckpointAt accepted a non-date")
	}
	after, emitted, err := pip.ParseCheckpoint(`{"completed_after":"2026-11-19T00:00:00Z","emitted":[{"completed_at":"2026-11-19T00:00:01Z","ids":["b","a"]}]}`)
	if err != nil || after != "2026-11-19T00:00:00Z" || !slices.Equal(emitted, []string{"a", "b"}) {
		t.Errorf("ParseCheckpoint = %q %v %v", after, emitted, err)
	}
	if after, emitted, err := pip.ParseCheckpoint(`{}`); err != nil || after != "" || len(emitted) != 0 {
		t.Errorf("ParseCheckpoint({}) = %q %v %v; want the beginning", after, emitted, err)
	}
}

func TestSourceScopeIsTheExport(t *testing.T) {
	src := newSource(t, testConfig("http://127.0.0.1:8081/pip"), nil)
	scopes, err := src.Scopes(t.Context())
	if err != nil || !slices.Equal(scopes, []string{"posten"}) {
		t.Fatalf("Scopes = %v, %v", scopes, err)
	}
}

// FuzzSourcePage serves an arbitrary body for every request: Fetch must end by itself (the
// body never changes, so a correct source runs out of progress), emit a session with a
// usable completedAt at most once (the same id with other content, a different completion
// time, is an update and may follow), and write only checkpoints it can read back.
func FuzzSourcePage(f *testing.F) {
	f.Add(providertest.Testdata(f, "getposteninvoicingdata_200.json"), 2)
	for _, s := range []string{
		`{"exportedThrough":"2026-11-20T10:00:00Z","data":[{"sessionId":"a","completedAt":"2026-11-20T10:00:00Z"},{"sessionId":"a","completedAt":"2026-11-20T10:00:00Z"}]}`,
		`{"exportedThrough":"2026-11-20T09:00:00Z","data":[{"sessionId":"a","completedAt":"2026-11-20T09:00:00Z"},{"sessionId":"b","completedAt":"2026-11-20T10:00:00Z"},{"sessionId":"c","completedAt":"2026-11-20T10:00:00Z"}]}`,
		`{"exportedThrough":"2030-01-01T00:00:00Z","data":[{"sessionId":1,"completedAt":"2026-11-20T10:00:00+01:00"},{"sessionId":2,"completedAt":"2026-11-20T09:00:00.5Z"}]}`,
		`[{"sessionId":"a","completedAt":"2026-11-20T10:00:00"},{"completedAt":"x"},null,7]`,
		`{"data":[{"sessionId":"a"},{"sessionId":"a"}]}`,
	} {
		f.Add([]byte(s), 1)
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, body []byte, pageSize int) {
		const limit = 50
		requests := 0
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if requests++; requests > limit {
				w.WriteHeader(http.StatusBadRequest) // stops a runaway Fetch with ErrPermanent
				return
			}
			w.Write(body)
		})
		cfg := staticConfig(inMemory)
		cfg.PageSize = 1 + (pageSize%8+8)%8
		cfg.Backoff = poll.Backoff{MaxAttempts: 1}
		src := newSource(t, cfg, providertest.HandlerClient(h))
		timed := map[string]int{}
		err := src.Fetch(t.Context(), pip.DefaultExport, "", func(r poll.Record) error {
			if r.Next != "" {
				if _, _, err := pip.ParseCheckpoint(r.Next); err != nil {
					t.Fatalf("unreadable checkpoint %s: %v", r.Next, err)
				}
			}
			if r.Data == nil {
				return nil
			}
			var v struct {
				CompletedAt string `json:"completedAt"`
			}
			_ = json.Unmarshal(r.Data, &v)
			_, err1 := time.Parse(time.RFC3339Nano, v.CompletedAt)
			_, err2 := time.Parse("2006-01-02T15:04:05.999999999", v.CompletedAt)
			if k := r.ID + "\x00" + string(r.Data); err1 == nil || err2 == nil {
				if timed[k]++; timed[k] > 1 {
					t.Fatalf("session %s emitted twice", r.ID)
				}
			}
			return nil
		})
		if requests > limit {
			t.Fatalf("Fetch made more than %d requests for an unchanging page (%v)", limit, err)
		}
	})
}

func TestBackfill(t *testing.T) {
	s := newSim(sim.Options{Seed: 6, Records: 50, Now: providertest.Fixed(testNow)})
	ids, at := pip.SimSessions(s)
	from, err := time.Parse(time.RFC3339, at[20])
	if err != nil {
		t.Fatal(err)
	}
	p := pip.Provider{}
	cp, err := p.BackfillCheckpoint(from)
	if err != nil {
		t.Fatal(err)
	}
	// Every session completed at from or later: the group at index 20 included.
	first := 20
	for first > 0 && at[first-1] == at[20] {
		first--
	}
	recs := fetchAll(t, newSource(t, testConfig(inMemory), providertest.HandlerClient(s)), cp)
	checkExactly(t, dataIDs(recs), ids[first:])

	got, err := p.CheckpointTime(cp)
	if err != nil || !got.Equal(from.Add(-time.Nanosecond)) {
		t.Errorf("CheckpointTime(%s) = %v, %v; want %v", cp, got, err, from.Add(-time.Nanosecond))
	}
	if got, err := p.CheckpointTime(lastCheckpoint(recs)); err != nil || got.Format(time.RFC3339) != at[len(at)-1] {
		t.Errorf("CheckpointTime(final) = %v, %v; want %s", got, err, at[len(at)-1])
	}
	if got, err := p.CheckpointTime(`{}`); err != nil || !got.IsZero() {
		t.Errorf("CheckpointTime({}) = %v, %v; want the zero time", got, err)
	}
	if _, err := p.CheckpointTime(`{"completed_after":"soon"}`); !errors.Is(err, poll.ErrPermanent) {
		t.Errorf("CheckpointTime of a bad checkpoint = %v, want poll.ErrPermanent", err)
	}
}
