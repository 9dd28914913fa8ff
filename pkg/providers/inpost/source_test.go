package inpost_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/inpost"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

func newSource(t *testing.T, cfg inpost.Config, hc *http.Client) *inpost.Source {
	t.Helper()
	src, err := inpost.NewSource(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func rawID(r poll.Record) string { return events.RawID(inpost.Name, r.Resource, r.ID, r.Data) }

// last returns the checkpoint of the last record that carries one (from when none does).
func last(recs []poll.Record, from poll.Checkpoint) poll.Checkpoint {
	for _, r := range recs {
		if r.Next != "" {
			from = r.Next
		}
	}
	return from
}

func sameRecords(t *testing.T, what string, got, want []poll.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || !bytes.Equal(got[i].Data, want[i].Data) || got[i].Next != want[i].Next {
			t.Fatalf("%s: record %d is %s (next %s), want %s (next %s)", what, i, got[i].ID, got[i].Next, want[i].ID, want[i].Next)
		}
	}
}

// TestSourceResumesFromEveryRecord cuts a full poll after every record, as a cancelled or
// crashed poll would, and resumes from the checkpoint the last durable record carried: the
// resumed poll must emit exactly the rest, whether the cut falls inside a group of MPKs sharing
// one updated_at or not. Pages of 2 make page boundaries cut through those groups too.
func TestSourceResumesFromEveryRecord(t *testing.T) {
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 11, Records: 150, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	cfg := testConfig(srv.URL)
	cfg.PageSize = 2
	src := newSource(t, cfg, srv.Client())
	cfg.PageSize = 100
	bigPages := newSource(t, cfg, srv.Client())

	total, cutsInTies := 0, 0
	for _, org := range inpost.SimOrganizations() {
		full := providertest.FetchAll(t, src, org, "")
		seen := map[string]bool{}
		for i, r := range full {
			if r.Data == nil || r.Next == "" || seen[r.ID] {
				t.Fatalf("%s: record %d (%s) is a marker, has no checkpoint or repeats an MPK", org, i, r.ID)
			}
			seen[r.ID] = true
			if i > 0 && instant(t, headOf(t, r.Data).UpdatedAt).Before(instant(t, headOf(t, full[i-1].Data).UpdatedAt)) {
				t.Fatalf("%s: record %d is older than the one before it", org, i)
			}
		}
		total += len(full)
		for k := 1; k <= len(full); k++ {
			if k < len(full) && headOf(t, full[k-1].Data).UpdatedAt == headOf(t, full[k].Data).UpdatedAt {
				cutsInTies++
			}
			sameRecords(t, org+" resumed after record "+full[k-1].ID, providertest.FetchAll(t, src, org, full[k-1].Next), full[k:])
		}
		// Caught up: nothing emitted, and with pages larger than the group of MPKs sharing the
		// checkpoint's updated_at, one request.
		if recs := providertest.FetchAll(t, src, org, full[len(full)-1].Next); len(recs) != 0 {
			t.Errorf("%s: a caught-up poll emitted %d records", org, len(recs))
		}
		before := s.Truth().Requests[org]
		if recs := providertest.FetchAll(t, bigPages, org, full[len(full)-1].Next); len(recs) != 0 {
			t.Errorf("%s: a caught-up poll emitted %d records", org, len(recs))
		}
		if n := s.Truth().Requests[org] - before; n != 1 {
			t.Errorf("%s: a caught-up poll cost %d requests, want 1", org, n)
		}
	}
	if want := s.Truth().Records; total != want {
		t.Errorf("full polls emitted %d MPKs, the simulator holds %d", total, want)
	}
	if cutsInTies == 0 {
		t.Fatal("no checkpoint fell inside a group of MPKs sharing an updated_at: the test proves nothing")
	}
}

// TestSourceReemitsUpdates moves the clock on: MPKs updated since the checkpoint come again
// with their new updated_at and bytes (so a new raw id), new MPKs come for the first time, and
// nothing else is emitted or read beyond one page past the changes.
func TestSourceReemitsUpdates(t *testing.T) {
	clk := providertest.NewClock(testNow)
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 5, Records: 300, Now: clk.Now})
	srv := providertest.Serve(t, s)
	cfg := testConfig(srv.URL)
	src := newSource(t, cfg, srv.Client())
	whole := newClient(t, testConfig(srv.URL), srv.Client())

	type version struct {
		id   string
		data []byte
	}
	emitted := map[string]bool{}  // raw ids
	latest := map[string][]byte{} // MPK id → bytes last emitted
	cps := map[string]poll.Checkpoint{}
	for _, org := range inpost.SimOrganizations() {
		recs := providertest.FetchAll(t, src, org, "")
		for _, r := range recs {
			emitted[rawID(r)] = true
			latest[r.ID] = r.Data
		}
		cps[org] = last(recs, "")
	}

	clk.Set(testNow.Add(50 * time.Hour))
	updates, creations := 0, 0
	for _, org := range inpost.SimOrganizations() {
		cur, err := inpost.ParseCursor(cps[org])
		if err != nil {
			t.Fatal(err)
		}
		// What must come: every MPK whose current version the checkpoint does not cover.
		var want []version
		for _, item := range listAll(t, whole, org, inpost.SortAsc) {
			h := headOf(t, item)
			if !cur.Covers(instant(t, h.UpdatedAt).UTC(), h.ID) {
				want = append(want, version{jsonInt(h.ID), item})
			}
		}
		before := s.Truth().Requests[org]
		recs := providertest.FetchAll(t, src, org, cps[org])
		requests := s.Truth().Requests[org] - before
		if len(recs) != len(want) {
			t.Fatalf("%s: %d records after the clock moved, want the %d changed MPKs", org, len(recs), len(want))
		}
		for i, r := range recs {
			if r.ID != want[i].id || !bytes.Equal(r.Data, want[i].data) {
				t.Fatalf("%s: record %d is MPK %s, want %s", org, i, r.ID, want[i].id)
			}
			if emitted[rawID(r)] {
				t.Errorf("%s: MPK %s re-emitted unchanged (raw id %s)", org, r.ID, rawID(r))
			}
			if prev, ok := latest[r.ID]; ok {
				updates++
				if instant(t, headOf(t, r.Data).UpdatedAt).Compare(instant(t, headOf(t, prev).UpdatedAt)) <= 0 {
					t.Errorf("%s: MPK %s re-emitted without a later updated_at", org, r.ID)
				}
				evOld, _ := inpost.Provider{}.Map(rawOf(prev))
				evNew, _ := inpost.Provider{}.Map(rawOf(r.Data))
				if len(evOld) != 1 || len(evNew) != 1 || evOld[0].ID == evNew[0].ID || evOld[0].Subject != evNew[0].Subject {
					t.Errorf("%s: MPK %s: the update does not map to a new event of the same cost centre", org, r.ID)
				}
			} else {
				creations++
			}
			latest[r.ID] = r.Data
		}
		// Bounded: the pages holding the changes, plus the one that reaches the checkpoint.
		if most := len(want)/cfg.PageSize + 2; requests > most {
			t.Errorf("%s: %d requests for %d changes in pages of %d, want at most %d", org, requests, len(want), cfg.PageSize, most)
		}
	}
	if updates == 0 || creations == 0 {
		t.Fatalf("%d updates and %d creations after the clock moved: the test proves nothing", updates, creations)
	}
	if got, want := len(latest), s.Truth().Records; got != want {
		t.Errorf("%d distinct MPKs emitted over both polls, the simulator holds %d", got, want)
	}
}

// steppingHandler serves h and moves the clock by step after each list request, so MPKs are
// created and updated between the pages of one poll.
type steppingHandler struct {
	h    http.Handler
	clk  *providertest.Clock
	step time.Duration
	mu   sync.Mutex
	n    int
}

func (s *steppingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.h.ServeHTTP(w, r)
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	s.clk.Set(s.clk.Now().Add(s.step))
}

// TestSourceLosesNothingWhileMPKsChange: MPKs updated or created while a poll pages through
// the list move to its front; reading newest first, that shifts later pages back (a repeat,
// dropped), never forward (a gap). The next poll picks up what moved.
func TestSourceLosesNothingWhileMPKsChange(t *testing.T) {
	start := testNow.Add(-3 * 24 * time.Hour)
	clk := providertest.NewClock(start)
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 8, Records: 400, Now: clk.Now})
	h := &steppingHandler{h: s, clk: clk, step: 90 * time.Minute}
	srv := providertest.Serve(t, h)
	cfg := testConfig(srv.URL)
	src := newSource(t, cfg, srv.Client())
	whole := newClient(t, testConfig(srv.URL), srv.Client())

	moved := 0
	for _, org := range inpost.SimOrganizations() {
		emitted := map[string]bool{}
		var cp poll.Checkpoint
		for range 2 {
			at := clk.Now()
			recs := providertest.FetchAll(t, src, org, cp)
			for _, r := range recs {
				if emitted[rawID(r)] {
					t.Errorf("%s: MPK %s version emitted twice", org, r.ID)
				}
				emitted[rawID(r)] = true
			}
			cp = last(recs, cp)
			if clk.Now().Sub(at) > 0 {
				for _, item := range listAll(t, whole, org, inpost.SortDesc) {
					if u := instant(t, headOf(t, item).UpdatedAt); u.After(at) && !u.After(clk.Now()) {
						moved++
					}
				}
			}
		}
		// Every MPK's current version was emitted by the two polls, or changed after the
		// second one began reading (then the third poll would get it).
		for _, item := range listAll(t, whole, org, inpost.SortAsc) {
			h := headOf(t, item)
			r := poll.Record{Resource: inpost.Resource, ID: jsonInt(h.ID), Data: item}
			if !emitted[rawID(r)] {
				cur, _ := inpost.ParseCursor(cp)
				if cur.Covers(instant(t, h.UpdatedAt).UTC(), h.ID) {
					t.Errorf("%s: MPK %d (updated_at %s) is covered by checkpoint %s but was never emitted", org, h.ID, h.UpdatedAt, cp)
				}
			}
		}
		// A third poll, with the clock still, catches up completely.
		h.step = 0
		recs := providertest.FetchAll(t, src, org, cp)
		for _, r := range recs {
			emitted[rawID(r)] = true
		}
		for _, item := range listAll(t, whole, org, inpost.SortAsc) {
			r := poll.Record{Resource: inpost.Resource, ID: jsonInt(headOf(t, item).ID), Data: item}
			if !emitted[rawID(r)] {
				t.Errorf("%s: MPK %s's current version was never emitted", org, r.ID)
			}
		}
		h.step = 90 * time.Minute
	}
	if moved == 0 {
		t.Fatal("no MPK changed while a poll was paging: the test proves nothing")
	}
}

func TestSourceUnknownOrganizationIsAConfigError(t *testing.T) {
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 30, Now: providertest.Fixed(testNow)})
	c := &providertest.Counter{H: s}
	srv := providertest.Serve(t, c)
	cfg := testConfig(srv.URL)
	cfg.Organizations = []string{"1", "999"}
	src := newSource(t, cfg, srv.Client())

	emitted := 0
	err := src.Fetch(t.Context(), "999", "", func(poll.Record) error { emitted++; return nil })
	if !errors.Is(err, poll.ErrPermanent) || !errors.Is(err, inpost.ErrResourceNotFound) || errors.Is(err, poll.ErrAuth) {
		t.Fatalf("Fetch(999) = %v; want a permanent resource_not_found, not an auth error", err)
	}
	for _, want := range []string{"INPOST_ORGANIZATIONS", `"999"`, "does not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if emitted != 0 || c.Count() != 1 {
		t.Errorf("%d records emitted, %d requests; want none and one (not retried)", emitted, c.Count())
	}
	// The other organization is unaffected.
	if recs := providertest.FetchAll(t, src, "1", ""); len(recs) == 0 {
		t.Error("organization 1 gave no MPKs")
	}
}

// rewriteQuery serves h with the query changed by fn.
func rewriteQuery(h http.Handler, fn func(url.Values)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		fn(q)
		r.URL.RawQuery = q.Encode()
		h.ServeHTTP(w, r)
	})
}

func TestSourceRefusesWhatItCannotTrust(t *testing.T) {
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 2, Records: 60, Now: providertest.Fixed(testNow)})
	item := func(id int, updated string) string {
		return `{"id":` + jsonInt(int64(id)) + `,"name":"n` + jsonInt(int64(id)) + `","description":"","created_at":"2018-05-15T21:58:49.427+02:00","updated_at":"` + updated + `"}`
	}
	const tie = "2018-05-17T10:35:59.644+02:00"
	tests := []struct {
		name string
		h    http.Handler
		says string
	}{
		{
			name: "list not sorted as asked",
			h:    rewriteQuery(s, func(q url.Values) { q.Set("sort_order", "asc") }),
			says: "did not sort by updated_at descending",
		},
		{
			name: "page parameter ignored",
			h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"items":[` + item(3, tie) + `,` + item(2, tie) + `,` + item(1, tie) + `]}`))
			}),
			says: "page 2 repeats page 1",
		},
		{
			// Echoes the page asked for and counts the page's items: reading on would never
			// end (it did, before), and ending could drop pages.
			name: "page ignored, page echoed, count of the page",
			h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"count":3,"page":` + r.URL.Query().Get("page") + `,"per_page":3,"items":[` + item(3, tie) + `,` + item(2, tie) + `,` + item(1, tie) + `]}`))
			}),
			says: "page 2 repeats page 1, naming page 2, count 3",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := providertest.Serve(t, tc.h)
			src := newSource(t, testConfig(srv.URL), srv.Client())
			emitted := 0
			err := src.Fetch(t.Context(), "1", "", func(poll.Record) error { emitted++; return nil })
			if !errors.Is(err, poll.ErrPermanent) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Fetch = %v; want a permanent error saying %q", err, tc.says)
			}
			if emitted != 0 {
				t.Errorf("%d records emitted before the error", emitted)
			}
		})
	}
}

func TestSourceEmitsUnplaceableItemsWithoutCheckpoint(t *testing.T) {
	body := `{"count":3,"page":1,"per_page":3,"items":[` +
		`{"id":7,"name":"b","description":"","updated_at":"2018-05-17T10:35:59.644+02:00"},` +
		`{"id":"seven","name":"broken","updated_at":"yesterday"},` +
		`{"id":6,"name":"a","description":"","updated_at":"2018-05-16T10:00:00.000+02:00"}]}`
	srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
	src := newSource(t, testConfig(srv.URL), srv.Client())
	recs := providertest.FetchAll(t, src, "1", "")
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	if !strings.HasPrefix(recs[0].ID, "malformed-") || recs[0].Next != "" || !strings.Contains(string(recs[0].Data), "broken") {
		t.Errorf("first record %+v: want the unplaceable item, with a stand-in id and no checkpoint", recs[0])
	}
	if evs, err := (inpost.Provider{}).Map(rawOf(recs[0].Data)); !errors.Is(err, events.ErrUnmappable) {
		t.Errorf("the unplaceable item mapped to %d events, %v; want ErrUnmappable (the DLQ)", len(evs), err)
	}
	if recs[1].ID != "6" || recs[2].ID != "7" {
		t.Errorf("records %s, %s: want MPKs 6 then 7 (oldest first)", recs[1].ID, recs[2].ID)
	}
	if want := `{"updated_at":"2018-05-17T08:35:59.644Z","ids":[7]}`; recs[2].Next != poll.Checkpoint(want) {
		t.Errorf("checkpoint %s, want %s", recs[2].Next, want)
	}
}

func TestSourceStops(t *testing.T) {
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 30, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client())
	errStop := errors.New("stop")
	providertest.CheckFetchFailures(t, src, errStop, []providertest.FetchFailure{
		{Name: "organization not configured", Scope: "4", Is: poll.ErrPermanent},
		{Name: "malformed checkpoint", Scope: "1", From: "2026-11-19", Is: poll.ErrPermanent},
		{Name: "checkpoint without a time", Scope: "1", From: `{"updated_at":"soon","ids":[1]}`, Is: poll.ErrPermanent},
		{Name: "emit error", Scope: "1", Emit: func(poll.Record) error { return errStop }, Is: errStop},
	})
}

func TestSourceScopesAreOrganizations(t *testing.T) {
	src := newSource(t, testConfig("http://127.0.0.1:8081"), nil)
	scopes, err := src.Scopes(t.Context())
	if err != nil || !slices.Equal(scopes, inpost.SimOrganizations()) {
		t.Fatalf("Scopes = %v, %v", scopes, err)
	}
}

func TestCursor(t *testing.T) {
	at := time.Date(2018, 5, 17, 8, 35, 59, 644_000_000, time.UTC)
	cp := poll.Checkpoint(`{"updated_at":"2018-05-17T10:35:59.644+02:00","ids":[9,3,3]}`)
	cur, err := inpost.ParseCursor(cp)
	if err != nil {
		t.Fatal(err)
	}
	if !cur.UpdatedAt.Equal(at) || !slices.Equal(cur.IDs, []int64{3, 9}) {
		t.Fatalf("ParseCursor = %+v", cur)
	}
	if got, want := cur.Checkpoint(), poll.Checkpoint(`{"updated_at":"2018-05-17T08:35:59.644Z","ids":[3,9]}`); got != want {
		t.Errorf("Checkpoint() = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		name    string
		updated time.Time
		id      int64
		want    bool
	}{
		{"older", at.Add(-time.Millisecond), 100, true},
		{"same time, emitted", at, 9, true},
		{"same time, not yet emitted", at, 4, false},
		{"newer, same id", at.Add(time.Millisecond), 3, false},
	} {
		if got := cur.Covers(tc.updated, tc.id); got != tc.want {
			t.Errorf("%s: Covers = %v, want %v", tc.name, got, tc.want)
		}
	}
	if zero, err := inpost.ParseCursor(""); err != nil || zero.Covers(at, 1) || zero.Checkpoint() != "" {
		t.Errorf("the empty checkpoint = %+v, %v; want a cursor covering nothing", zero, err)
	}
	var v struct {
		UpdatedAt string  `json:"updated_at"`
		IDs       []int64 `json:"ids"`
	}
	if err := json.Unmarshal([]byte(cur.Checkpoint()), &v); err != nil || v.UpdatedAt == "" {
		t.Errorf("checkpoint is not the documented JSON: %v", err)
	}
}

// scripted serves list request n from snapshots[min(n, len)-1]: a list that changes between the
// pages of one poll in a chosen way. Each snapshot is "id@hour" entries on 2018-05-17 (UTC),
// given newest first.
type scripted struct {
	mu        sync.Mutex
	n         int
	snapshots [][]string

	// The seed's other readings (sim.Readings has them as InPost*): count is the page's
	// items, a page past the last serves the last again (naming it), numbers are strings.
	countIsPage, repeatLast, stringNumbers bool
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.n++
	snap := s.snapshots[min(s.n, len(s.snapshots))-1]
	s.mu.Unlock()
	q := r.URL.Query()
	page, perPage := atoi(q.Get("page")), atoi(q.Get("per_page"))
	if lastPage := max(1, (len(snap)+perPage-1)/perPage); s.repeatLast && page > lastPage {
		page = lastPage
	}
	lo, hi := min((page-1)*perPage, len(snap)), min(page*perPage, len(snap))
	var items []string
	for _, e := range snap[lo:hi] {
		id, hour, _ := strings.Cut(e, "@")
		items = append(items, `{"id":`+id+`,"name":"mpk `+id+`","description":"","updated_at":"2018-05-17T`+hour+`:00:00.000Z"}`)
	}
	count := len(snap)
	if s.countIsPage {
		count = len(items)
	}
	num := func(n int) string {
		if s.stringNumbers {
			return `"` + strconv.Itoa(n) + `"`
		}
		return strconv.Itoa(n)
	}
	w.Write([]byte(`{"count":` + num(count) + `,"page":` + num(page) + `,"per_page":` + num(perPage) +
		`,"items":[` + strings.Join(items, ",") + `]}`))
}

// TestSourceReadsTheOtherReadingsOfTheList: the seed's example (count 3 of 3 items on one page)
// cannot tell whether count is the list's total or the page's items, whether a page past the
// last is empty or the last again, or whether numbers may be strings. Every MPK is read once
// under each reading; before, a count of the page's items ended the list after page 1.
func TestSourceReadsTheOtherReadingsOfTheList(t *testing.T) {
	snap := []string{"1@09", "2@08", "3@07", "4@06", "5@05", "6@04"}
	want := []string{"6@04", "5@05", "4@06", "3@07", "2@08", "1@09"}
	for _, tc := range []struct {
		name string
		h    *scripted
	}{
		{"count is the list's total", &scripted{}},
		{"count is the page's items", &scripted{countIsPage: true}},
		{"a page past the last repeats the last", &scripted{repeatLast: true}},
		{"count is the page's items, a page past the last repeats it", &scripted{countIsPage: true, repeatLast: true}},
		{"numbers as strings", &scripted{countIsPage: true, stringNumbers: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.h.snapshots = [][]string{snap}
			srv := providertest.Serve(t, tc.h)
			cfg := testConfig(srv.URL)
			cfg.PageSize = 2
			src := newSource(t, cfg, srv.Client())
			if got := versions(t, providertest.FetchAll(t, src, "1", "")); !slices.Equal(got, want) {
				t.Fatalf("emitted %v, want %v", got, want)
			}
		})
	}
}

func atoi(s string) int {
	var n int
	_ = json.Unmarshal([]byte(s), &n)
	return n
}

// versions lists "id@hour" of the data records.
func versions(t *testing.T, recs []poll.Record) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		out = append(out, r.ID+"@"+instant(t, headOf(t, r.Data).UpdatedAt).Format("15"))
	}
	return out
}

// TestSourceKeepsTheNewestVersionOfAShiftedMPK: page 1 reads MPKs 1 and 2; then all four are
// updated, so page 2 holds 3 and 2 again, 2 in its new version. Keeping page 1's version of 2
// would let the checkpoint pass (11, [3]) and lose 2's update at 10 for good.
func TestSourceKeepsTheNewestVersionOfAShiftedMPK(t *testing.T) {
	h := &scripted{snapshots: [][]string{
		{"1@05", "2@04", "3@03", "4@02"},
		{"1@13", "4@12", "3@11", "2@10"},
	}}
	srv := providertest.Serve(t, h)
	cfg := testConfig(srv.URL)
	cfg.PageSize = 2
	src := newSource(t, cfg, srv.Client())

	first := providertest.FetchAll(t, src, "1", "")
	if got, want := versions(t, first), []string{"1@05", "2@10", "3@11"}; !slices.Equal(got, want) {
		t.Fatalf("first poll emitted %v, want %v", got, want)
	}
	second := providertest.FetchAll(t, src, "1", last(first, ""))
	if got, want := versions(t, second), []string{"4@12", "1@13"}; !slices.Equal(got, want) {
		t.Fatalf("second poll emitted %v, want %v", got, want)
	}
}

// TestSourceReadsOnPastARepeatedPage: exactly a page of MPKs changes between two pages, so page
// 2 repeats page 1. That is not a server ignoring page (the count says so): the poll goes on.
func TestSourceReadsOnPastARepeatedPage(t *testing.T) {
	h := &scripted{snapshots: [][]string{
		{"1@09", "2@08", "3@07", "4@06", "5@05"},
		{"3@12", "4@11", "1@09", "2@08", "5@05"},
	}}
	srv := providertest.Serve(t, h)
	cfg := testConfig(srv.URL)
	cfg.PageSize = 2
	src := newSource(t, cfg, srv.Client())
	first := providertest.FetchAll(t, src, "1", "")
	if got, want := versions(t, first), []string{"5@05", "2@08", "1@09"}; !slices.Equal(got, want) {
		t.Fatalf("first poll emitted %v, want %v", got, want)
	}
	second := providertest.FetchAll(t, src, "1", last(first, ""))
	if got, want := versions(t, second), []string{"4@11", "3@12"}; !slices.Equal(got, want) {
		t.Fatalf("second poll emitted %v, want %v", got, want)
	}
}

// TestBackfill: a checkpoint built from a time re-reads exactly the MPKs updated at or after
// it, and reads back as that time.
func TestBackfill(t *testing.T) {
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 6, Records: 120, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client())
	full := providertest.FetchAll(t, src, "2", "")
	from := instant(t, headOf(t, full[len(full)/2].Data).UpdatedAt)

	cp, err := inpost.Provider{}.BackfillCheckpoint(from)
	if err != nil {
		t.Fatal(err)
	}
	if at, err := (inpost.Provider{}).CheckpointTime(cp); err != nil || !at.Equal(from) {
		t.Fatalf("CheckpointTime(%s) = %v, %v; want %v", cp, at, err, from)
	}
	var want []poll.Record
	for _, r := range full {
		if !instant(t, headOf(t, r.Data).UpdatedAt).Before(from) {
			want = append(want, r)
		}
	}
	got := providertest.FetchAll(t, src, "2", cp)
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("backfill from %s emitted %d records, want %d", from, len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("backfill record %d is %s, want %s", i, got[i].ID, want[i].ID)
		}
	}
	for _, bad := range []poll.Checkpoint{"", "2026-11-20", `{"updated_at":""}`} {
		if _, err := (inpost.Provider{}).CheckpointTime(bad); !errors.Is(err, poll.ErrPermanent) {
			t.Errorf("CheckpointTime(%q) = %v, want an error wrapping poll.ErrPermanent", bad, err)
		}
	}
	if _, err := (inpost.Provider{}).BackfillCheckpoint(time.Time{}); err == nil {
		t.Error("BackfillCheckpoint(zero time) succeeded")
	}
}

// TestSourceRefusesAListItCannotRead: well-formed bodies in a shape the client cannot read are
// permanent errors that say what was seen, not "no MPKs" (which would pass silently) and not
// retried as truncated.
func TestSourceRefusesAListItCannotRead(t *testing.T) {
	for name, body := range map[string]string{
		"the MPKs under another key": `{"count":1,"page":1,"per_page":30,"mpks":[{"id":1,"updated_at":"2018-05-17T10:00:00.000Z"}]}`,
		"items not an array":         `{"count":1,"items":{"id":1}}`,
		"a count that is no integer": `{"count":"many","items":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := providertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
			src := newSource(t, testConfig(srv.URL), srv.Client())
			providertest.CheckFetchFailures(t, src, nil, []providertest.FetchFailure{
				{Name: name, Scope: "1", Is: poll.ErrPermanent},
			})
		})
	}
}
