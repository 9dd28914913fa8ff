package mews_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

func newSource(t *testing.T, cfg mews.Config, hc *http.Client, now func() time.Time) *mews.Source {
	t.Helper()
	src, err := mews.NewSource(cfg, hc, now)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// data returns the ids of the data records.
func data(recs []poll.Record) []string {
	var ids []string
	for _, r := range recs {
		if r.Data != nil {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// lastNext is the checkpoint the records leave behind.
func lastNext(recs []poll.Record) poll.Checkpoint {
	var cp poll.Checkpoint
	for _, r := range recs {
		if r.Next != "" {
			cp = r.Next
		}
	}
	return cp
}

func position(t *testing.T, cp poll.Checkpoint) mews.Position {
	t.Helper()
	p, err := mews.ParseCheckpoint(cp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkOnce asserts that ids hold want records, none twice.
func checkOnce(t *testing.T, ids []string, want int) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("record %s emitted twice", id)
		}
		seen[id] = true
	}
	if len(seen) != want {
		t.Errorf("%d distinct records, want %d", len(seen), want)
	}
}

// adds returns the accepted exports/add requests by window.
func adds(truth sim.Truth, entity string) map[string]int {
	out := map[string]int{}
	for k, v := range truth.Requests {
		if w, ok := strings.CutPrefix(k, "add "+entity+" "); ok {
			out[w] += v
		}
	}
	return out
}

func window(from, to time.Time) string {
	return from.UTC().Format(time.RFC3339) + ".." + to.UTC().Format(time.RFC3339)
}

// testStart is the first window's start in most tests.
var testStart = testNow.AddDate(0, 0, -30)

func startConfig(url string) mews.Config {
	cfg := testConfig(url)
	cfg.Start = testStart.Format(time.RFC3339)
	return cfg
}

func TestSourceEveryEntityType(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 4, Records: 60, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	src := newSource(t, startConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	scopes, err := src.Scopes(t.Context())
	if err != nil || strings.Join(scopes, ",") != strings.Join(mews.EntityTypes(), ",") {
		t.Fatalf("Scopes = %v, %v; want every entity type", scopes, err)
	}
	for _, et := range scopes {
		t.Run(et, func(t *testing.T) {
			recs := providertest.FetchAll(t, src, et, "")
			checkOnce(t, data(recs), s.Entities(et))
			for _, r := range recs {
				if r.Resource != strings.ToLower(et) {
					t.Fatalf("resource %q, want %q", r.Resource, strings.ToLower(et))
				}
				if r.Data == nil {
					continue
				}
				var v struct{ Id string }
				if err := json.Unmarshal(r.Data, &v); err != nil || v.Id != r.ID {
					t.Fatalf("record %q: Data %s does not carry that Id (%v)", r.ID, r.Data, err)
				}
				evs, err := mews.Provider{}.Map(events.Raw{ID: "raw", Provider: "mews", Resource: r.Resource, Scope: et, RecordID: r.ID, Data: r.Data, Sequence: 1})
				switch {
				case err != nil:
					t.Fatalf("Map(%s %s): %v", et, r.ID, err)
				case (et == mews.EntityBill || et == mews.EntityOrderItem) && len(evs) != 1,
					et != mews.EntityBill && et != mews.EntityOrderItem && evs != nil:
					t.Fatalf("Map(%s %s) gave %d events", et, r.ID, len(evs))
				}
			}
			if got, want := lastNext(recs), mews.CheckpointAt(testNow.Add(-mews.DefaultEndLag)); got != want {
				t.Errorf("final checkpoint %s, want %s", got, want)
			}
		})
	}
	if s.Truth().Records != s.Entities(mews.EntityBill) {
		t.Errorf("Truth().Records = %d, want the %d bills", s.Truth().Records, s.Entities(mews.EntityBill))
	}
}

func TestSourceMarksTheExportBeforeWaiting(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 1, Records: 20, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	src := newSource(t, startConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	var first poll.Record
	errCrash := errors.New("poller killed")
	err := src.Fetch(t.Context(), mews.EntityBill, "", func(r poll.Record) error {
		first = r
		return errCrash
	})
	if !errors.Is(err, errCrash) {
		t.Fatalf("Fetch = %v, want the emit error", err)
	}
	p := position(t, first.Next)
	if first.Data != nil || p.Export == nil || p.Export.ID == "" || !p.From.Equal(testStart) {
		t.Fatalf("first emit %+v (position %+v): want a marker holding the new export", first, p)
	}
	if n := s.Truth().Requests["getAll"]; n != 0 {
		t.Errorf("%d getAll before the export id was durable", n)
	}
}

func TestSourceResumesPendingExportAfterRestart(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 2, Records: 120, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	errCrash := errors.New("poller killed")
	var cp poll.Checkpoint
	crashed := newSource(t, startConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	err := crashed.Fetch(t.Context(), mews.EntityBill, "", func(r poll.Record) error {
		cp = r.Next
		return errCrash // the marker with the export id is durable, then the poller dies
	})
	if !errors.Is(err, errCrash) {
		t.Fatalf("Fetch = %v", err)
	}
	id := position(t, cp).Export.ID

	restarted := newSource(t, startConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	recs := providertest.FetchAll(t, restarted, mews.EntityBill, cp)
	checkOnce(t, data(recs), s.Truth().Records)
	truth := s.Truth()
	if a := adds(truth, mews.EntityBill); len(a) != 1 || a[window(testStart, testNow.Add(-mews.DefaultEndLag))] != 1 {
		t.Errorf("adds %v: the restarted poller must resume export %s, not add another", a, id)
	}
	if truth.Requests["add-refused Bill"] != 0 {
		t.Error("the restarted poller tried to add an export")
	}
	if truth.Requests["file "+id+" 1"] != 1 {
		t.Errorf("file 1 of the resumed export %s downloaded %d times, want 1", id, truth.Requests["file "+id+" 1"])
	}
}

func TestSourceResumesMidFileWithRange(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 3, Records: 120, Now: providertest.Fixed(testNow)})
	for _, ignoreRange := range []bool{false, true} {
		t.Run(fmt.Sprintf("server ignores Range %v", ignoreRange), func(t *testing.T) {
			h := http.Handler(s)
			if ignoreRange {
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					r.Header.Del("Range")
					s.ServeHTTP(w, r)
				})
			}
			srv := providertest.Serve(t, h)
			src := newSource(t, startConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
			// Stop after 70 records: file 2 of 3 (50 lines each), line 20.
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var before []poll.Record
			n := 0
			err := src.Fetch(ctx, mews.EntityBill, "", func(r poll.Record) error {
				before = append(before, r)
				if r.Data != nil {
					if n++; n == 70 {
						cancel()
						return ctx.Err()
					}
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Fetch = %v", err)
			}
			cp := lastNext(before)
			p := position(t, cp)
			if p.Export == nil || p.Export.File != 1 || p.Export.Line != 20 || p.Export.Offset == 0 {
				t.Fatalf("checkpoint %s: want file index 1, line 20", cp)
			}
			after := providertest.FetchAll(t, src, mews.EntityBill, cp)
			checkOnce(t, append(data(before), data(after)...), s.Truth().Records)
			if len(data(after)) != s.Truth().Records-70 {
				t.Errorf("resumed poll emitted %d records, want %d", len(data(after)), s.Truth().Records-70)
			}
			if !ignoreRange && s.Truth().Requests["range "+p.Export.ID+" 2"] != 1 {
				t.Errorf("file 2 was not resumed with a Range request: %v", s.Truth().Requests)
			}
		})
	}
}

func TestSourceAdoptsTheExportThatMadeAddRefuse(t *testing.T) {
	tests := []struct {
		name         string
		pendingStart time.Time // the running export's window start
	}{
		{"same window (a poller stopped before its checkpoint was durable)", testStart},
		{"earlier start covering ours", testStart.Add(-48 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mews.NewSimulator(sim.Options{Seed: 5, Records: 80, Now: providertest.Fixed(testNow)})
			srv := providertest.Serve(t, s)
			src := newSource(t, startConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
			end := testNow.Add(-time.Hour)
			running, err := src.Client().AddExport(t.Context(), mews.EntityBill, tc.pendingStart, end)
			if err != nil {
				t.Fatal(err)
			}
			recs := providertest.FetchAll(t, src, mews.EntityBill, "")
			if first := position(t, recs[0].Next); first.Export == nil || first.Export.ID != running.ID || !first.Export.End.Equal(end) {
				t.Fatalf("first checkpoint %s: want the running export %s adopted with its end", recs[0].Next, running.ID)
			}
			truth := s.Truth()
			if truth.Requests["add-refused Bill"] != 1 {
				t.Errorf("%d refused adds, want 1", truth.Requests["add-refused Bill"])
			}
			// Bills of the last hour are in the next window, which the same Fetch exports.
			checkOnce(t, data(recs), s.Truth().Records)
			a := adds(truth, mews.EntityBill)
			if len(a) != 2 || a[window(tc.pendingStart, end)] != 1 || a[window(end, testNow.Add(-mews.DefaultEndLag))] != 1 {
				t.Errorf("adds %v: want the adopted export and the window after it", a)
			}
		})
	}
}

func TestSourceWaitsForSomeoneElsesExport(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 6, Records: 40, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	other := testConfig(srv.URL)
	other.EnterpriseIDs = mews.SimEnterprises()[:1] // another scope: not ours to adopt
	otherClient, err := mews.NewClient(other, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := otherClient.AddExport(t.Context(), mews.EntityBill, testStart, testNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	src := newSource(t, startConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	recs := providertest.FetchAll(t, src, mews.EntityBill, "")
	checkOnce(t, data(recs), s.Truth().Records)
	if p := position(t, recs[0].Next); p.Export == nil || p.Export.ID == theirs.ID {
		t.Fatalf("first checkpoint %s: adopted an export of another scope", recs[0].Next)
	}
	truth := s.Truth()
	if truth.Requests["add-refused Bill"] != 1 || len(adds(truth, mews.EntityBill)) != 2 {
		t.Errorf("requests %v: want one refusal, then our own add once theirs ended", truth.Requests)
	}
}

func TestSourceRefreshesExpiredURLs(t *testing.T) {
	tests := []struct {
		name string
		// cutFile2 drops the connection in the middle of file 2's first download.
		cutFile2 bool
		// sourceClockToo advances the source's clock with the simulator's: the source sees the
		// URLs' age and refreshes before asking; otherwise only the 403 tells.
		sourceClockToo bool
		wantExpired    int
	}{
		{"403 between files", false, false, 1},
		{"URL known to be old", false, true, 0},
		{"connection dropped mid-file, then 403", true, false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			simClock := providertest.NewClock(testNow)
			s := mews.NewSimulator(sim.Options{Seed: 7, Records: 140, Now: simClock.Now})
			srcNow := providertest.Fixed(testNow)
			if tc.sourceClockToo {
				srcNow = simClock.Now
			}
			var cut atomic.Bool
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.cutFile2 && strings.HasSuffix(r.URL.Path, "-2.jsonl") && cut.CompareAndSwap(false, true) {
					rec := &capture{header: http.Header{}}
					s.ServeHTTP(rec, r)
					for k, v := range rec.header {
						w.Header()[k] = v
					}
					w.WriteHeader(rec.status)
					w.Write(rec.body[:len(rec.body)/2+7]) // not at a line end
					simClock.Add(11 * time.Minute)
					panic(http.ErrAbortHandler)
				}
				s.ServeHTTP(w, r)
			})
			srv := providertest.Serve(t, h)
			src := newSource(t, startConfig(srv.URL), srv.Client(), srcNow)
			var recs []poll.Record
			err := src.Fetch(t.Context(), mews.EntityBill, "", func(r poll.Record) error {
				recs = append(recs, r)
				if r.Data == nil && !tc.cutFile2 {
					if p := position(t, r.Next); p.Export != nil && p.Export.File == 1 {
						simClock.Add(11 * time.Minute) // file 1 is done; its URLs are stale now
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			checkOnce(t, data(recs), s.Truth().Records)
			truth := s.Truth()
			id := position(t, recs[0].Next).Export.ID
			if truth.Requests["url-expired"] != tc.wantExpired {
				t.Errorf("%d downloads refused as expired, want %d", truth.Requests["url-expired"], tc.wantExpired)
			}
			if truth.Requests["file "+id+" 1"] != 1 {
				t.Errorf("file 1 downloaded %d times: a refreshed URL must resume at the file not yet complete", truth.Requests["file "+id+" 1"])
			}
			wantFile2 := 1
			if tc.cutFile2 {
				wantFile2 = 2 // the cut download, then the Range resume
				if truth.Requests["range "+id+" 2"] != 1 {
					t.Errorf("file 2 was not resumed with Range after the cut: %v", truth.Requests)
				}
			}
			if truth.Requests["file "+id+" 2"] != wantFile2 || truth.Requests["file "+id+" 3"] != 1 {
				t.Errorf("downloads %v", truth.Requests)
			}
			// add → Processing, Success, then one refresh.
			if truth.Requests["getAll"] != 3 {
				t.Errorf("%d getAll, want 3 (two status polls and one URL refresh)", truth.Requests["getAll"])
			}
		})
	}
}

// capture records a response.
type capture struct {
	header http.Header
	status int
	body   []byte
}

func (c *capture) Header() http.Header { return c.header }
func (c *capture) WriteHeader(s int)   { c.status = s }
func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body = append(c.body, b...)
	return len(b), nil
}

func TestSourceFailedExport(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 8, Records: 30, Now: providertest.Fixed(testNow)})
	s.FailNext(mews.EntityBill)
	srv := providertest.Serve(t, s)
	src := newSource(t, startConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	recs, err := providertest.Fetch(t.Context(), src, mews.EntityBill, "")
	if !errors.Is(err, mews.ErrExportFailed) || errors.Is(err, poll.ErrAuth) {
		t.Fatalf("Fetch = %v, want an error wrapping ErrExportFailed", err)
	}
	id := position(t, recs[0].Next).Export.ID
	for _, want := range []string{"Bill", id, "Failed"} {
		if !strings.Contains(err.Error(), want) && !strings.Contains(err.Error(), strings.ToLower(want)) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(data(recs)) != 0 {
		t.Errorf("a failed export emitted %d records", len(data(recs)))
	}
	cp := lastNext(recs)
	if cp != mews.CheckpointAt(testStart) {
		t.Fatalf("checkpoint after the failure %s, want the window's start without the export", cp)
	}
	// The next poll adds a new export of the same window and succeeds.
	again := providertest.FetchAll(t, src, mews.EntityBill, cp)
	checkOnce(t, data(again), s.Truth().Records)
	if a := adds(s.Truth(), mews.EntityBill); a[window(testStart, testNow.Add(-mews.DefaultEndLag))] != 2 {
		t.Errorf("adds %v: want the window added twice", a)
	}
}

func TestSourceExpiredExportIsAddedAgain(t *testing.T) {
	simClock := providertest.NewClock(testNow)
	s := mews.NewSimulator(sim.Options{Seed: 9, Records: 60, Now: simClock.Now})
	srv := providertest.Serve(t, s)
	src := newSource(t, startConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var before []poll.Record
	_ = src.Fetch(ctx, mews.EntityBill, "", func(r poll.Record) error {
		before = append(before, r)
		if r.Data != nil {
			cancel()
			return ctx.Err()
		}
		return nil
	})
	cp := lastNext(before)
	old := position(t, cp).Export.ID
	simClock.Add(25 * time.Hour) // the export expires before the rest is read

	// The new export covers the whole window again: the record read before repeats with the
	// same bytes (the same raw id, dropped as a duplicate downstream).
	after := providertest.FetchAll(t, src, mews.EntityBill, cp)
	checkOnce(t, data(after), s.Truth().Records)
	var ids []string
	for _, r := range after {
		if p := position(t, r.Next); r.Data == nil && p.Export != nil && p.Export.File == 0 && p.Export.Line == 0 {
			ids = append(ids, p.Export.ID)
		}
	}
	if len(ids) != 1 || ids[0] == old {
		t.Errorf("exports started by the resumed poll: %v; want one new export replacing %s", ids, old)
	}
	if got := lastNext(after); got != mews.CheckpointAt(testNow.Add(-mews.DefaultEndLag)) {
		t.Errorf("final checkpoint %s", got)
	}
}

func TestSourceSplits180DayBackfill(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 10, Records: 40, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	start := time.Date(2025, 10, 16, 0, 0, 0, 0, time.UTC) // 400 days before testNow, and 12h
	cfg := testConfig(srv.URL)
	cfg.Start = "2025-10-16"
	recs := providertest.FetchAll(t, newSource(t, cfg, srv.Client(), providertest.Fixed(testNow)), mews.EntityBill, "")
	checkOnce(t, data(recs), s.Truth().Records)

	day180 := 180 * 24 * time.Hour
	end := testNow.Add(-mews.DefaultEndLag)
	want := []string{window(start, start.Add(day180)), window(start.Add(day180), start.Add(2*day180)), window(start.Add(2*day180), end)}
	a := adds(s.Truth(), mews.EntityBill)
	if len(a) != 3 {
		t.Fatalf("adds %v, want three windows %v", a, want)
	}
	for _, w := range want {
		if a[w] != 1 {
			t.Errorf("window %s added %d times, want once (adds %v)", w, a[w], a)
		}
	}
	var froms []time.Time
	for _, r := range recs {
		if p := position(t, r.Next); r.Data == nil && p.Export == nil {
			froms = append(froms, p.From)
		}
	}
	if len(froms) != 3 || !froms[0].Equal(start.Add(day180)) || !froms[1].Equal(start.Add(2*day180)) || !froms[2].Equal(end) {
		t.Errorf("window checkpoints %v: want each window's end, in order", froms)
	}
}

func TestSourceWindowEnd(t *testing.T) {
	tests := []struct {
		name string
		lag  time.Duration
	}{
		{"the seed's five minutes", 5 * time.Minute},
		{"default", 0},
		{"an hour", time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mews.NewSimulator(sim.Options{Seed: 11, Records: 20, Now: providertest.Fixed(testNow)})
			srv := providertest.Serve(t, s)
			cfg := startConfig(srv.URL)
			cfg.EndLag = tc.lag
			providertest.FetchAll(t, newSource(t, cfg, srv.Client(), providertest.Fixed(testNow)), mews.EntityBill, "")
			lag := tc.lag
			if lag == 0 {
				lag = mews.DefaultEndLag
			}
			if a := adds(s.Truth(), mews.EntityBill); len(a) != 1 || a[window(testStart, testNow.Add(-lag))] != 1 {
				t.Errorf("adds %v, want one window ending %s before now", a, lag)
			}
		})
	}
}

func TestSourceCaughtUpWaitsForMinWindow(t *testing.T) {
	clk := providertest.NewClock(testNow)
	s := mews.NewSimulator(sim.Options{Seed: 12, Records: 20, Now: clk.Now})
	srv := providertest.Serve(t, s)
	src := newSource(t, startConfig(srv.URL), srv.Client(), clk.Now)
	cp := lastNext(providertest.FetchAll(t, src, mews.EntityBill, ""))
	end := testNow.Add(-mews.DefaultEndLag)

	clk.Add(10 * time.Minute) // less than MinWindow after the last window's end
	if recs := providertest.FetchAll(t, src, mews.EntityBill, cp); len(recs) != 0 {
		t.Fatalf("a poll 10 minutes later emitted %d records", len(recs))
	}
	clk.Add(10 * time.Minute)
	recs := providertest.FetchAll(t, src, mews.EntityBill, cp)
	if len(data(recs)) != 0 {
		t.Errorf("the new window holds no bill but %d records came", len(data(recs)))
	}
	if a := adds(s.Truth(), mews.EntityBill); len(a) != 2 || a[window(end, testNow.Add(20*time.Minute-mews.DefaultEndLag))] != 1 {
		t.Errorf("adds %v: want a second window from the first one's end", a)
	}
}

func TestSourceStops(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 1, Records: 10, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	cfg := startConfig(srv.URL)
	cfg.EntityTypes = []string{"bill", "Payment"}
	src := newSource(t, cfg, srv.Client(), providertest.Fixed(testNow))
	errStop := errors.New("stop")
	providertest.CheckFetchFailures(t, src, errStop, []providertest.FetchFailure{
		{Name: "entity type not configured", Scope: "Customer", Is: poll.ErrPermanent},
		{Name: "malformed checkpoint", Scope: "Bill", From: "2026-11-19", Is: poll.ErrPermanent},
		{Name: "checkpoint without from", Scope: "Bill", From: `{"export":{"id":"x"}}`, Is: poll.ErrPermanent},
		{Name: "checkpoint with unknown field", Scope: "Bill", From: `{"from":"2026-11-01T00:00:00Z","next_day":"2026-11-02"}`, Is: poll.ErrPermanent},
		{Name: "export ending before from", Scope: "Bill", From: `{"from":"2026-11-01T00:00:00Z","export":{"id":"x","end":"2026-10-01T00:00:00Z"}}`, Is: poll.ErrPermanent},
		{Name: "negative line", Scope: "Bill", From: `{"from":"2026-11-01T00:00:00Z","export":{"id":"x","end":"2026-11-10T00:00:00Z","line":-1}}`, Is: poll.ErrPermanent},
		{Name: "emit error", Scope: "Bill", Emit: func(poll.Record) error { return errStop }, Is: errStop},
	})
}

func TestSourceUnknownExportInCheckpointStartsOver(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 13, Records: 25, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	src := newSource(t, startConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	cp := mews.Position{From: testStart, Export: &mews.ExportPosition{
		ID: "00000000-0000-4000-8000-000000000000", End: testNow.Add(-time.Hour), File: 2, Line: 7, Offset: 900,
	}}.Checkpoint()
	recs := providertest.FetchAll(t, src, mews.EntityBill, cp)
	checkOnce(t, data(recs), s.Truth().Records)
	if p := position(t, recs[0].Next); p.Export != nil || !p.From.Equal(testStart) {
		t.Errorf("first checkpoint %s: want the window's start without the vanished export", recs[0].Next)
	}
}

// fakeMews answers exports/add and exports/getAll with one Bill export whose files it serves
// itself at /f/<n>: from memory (Range honoured) or, for streamed files, written as generated.
type fakeMews struct {
	files  []fakeFile
	ranges atomic.Int32
}

type fakeFile struct {
	content []byte
	size    int64             // SizeInBytes announced; default len(content)
	stream  func(w io.Writer) // when set, written progressively instead of content
}

func (f *fakeMews) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/api/connector/v1/exports/add":
		io.WriteString(w, `{"Export":{"Id":"exp-1","Status":"Pending","EntityType":"Bill","Scope":{"EnterpriseIds":null,"ChainIds":null},"Files":[],"ExpiresUtc":null,"Filters":null}}`)
	case r.URL.Path == "/api/connector/v1/exports/getAll":
		var files []string
		for i, ff := range f.files {
			size := ff.size
			if size == 0 {
				size = int64(len(ff.content))
			}
			files = append(files, fmt.Sprintf(`{"Url":"http://%s/f/%d?sig=s3cr3t","SizeInBytes":%d}`, r.Host, i, size))
		}
		fmt.Fprintf(w, `{"Exports":[{"Id":"exp-1","Status":"Success","EntityType":"Bill","Scope":null,"Files":[%s],"ExpiresUtc":"2026-11-21T12:00:00Z","Filters":null}]}`, strings.Join(files, ","))
	case strings.HasPrefix(r.URL.Path, "/f/"):
		i, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/f/"))
		ff := f.files[i]
		if r.Header.Get("Range") != "" {
			f.ranges.Add(1)
		}
		if ff.stream != nil {
			w.Header().Set("Content-Length", strconv.FormatInt(ff.size, 10))
			ff.stream(w)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(ff.content))
	default:
		http.NotFound(w, r)
	}
}

// countingTransport counts the bytes the source reads from export file bodies.
type countingTransport struct {
	base http.RoundTripper
	read atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil && strings.HasPrefix(r.URL.Path, "/f/") {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func fakeSource(t *testing.T, f *fakeMews, maxLine int64) (*mews.Source, *countingTransport) {
	t.Helper()
	srv := providertest.Serve(t, f)
	ct := &countingTransport{base: srv.Client().Transport}
	cfg := startConfig(srv.URL)
	cfg.MaxLineBytes = maxLine
	return newSource(t, cfg, &http.Client{Transport: ct}, providertest.Fixed(testNow)), ct
}

func TestSourceStreamsLargeFiles(t *testing.T) {
	const lines = 50_000
	line := func(i int) string {
		return fmt.Sprintf(`{"Id":"bill-%06d","Notes":"%s"}`+"\n", i, strings.Repeat("n", 300+i%97))
	}
	var size int64
	for i := range lines {
		size += int64(len(line(i)))
	}
	f := &fakeMews{files: []fakeFile{{size: size, stream: func(w io.Writer) {
		for i := range lines {
			if _, err := io.WriteString(w, line(i)); err != nil {
				return
			}
		}
	}}}}
	const maxLine = 4096
	src, ct := fakeSource(t, f, maxLine)
	var emitted, ahead int64
	n := 0
	err := src.Fetch(t.Context(), mews.EntityBill, "", func(r poll.Record) error {
		if r.Data == nil {
			return nil
		}
		if want := fmt.Sprintf("bill-%06d", n); r.ID != want {
			return fmt.Errorf("record %d has id %s, want %s", n, r.ID, want)
		}
		n++
		emitted += int64(len(r.Data)) + 1
		ahead = max(ahead, ct.read.Load()-emitted)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != lines || ct.read.Load() != size {
		t.Fatalf("%d records from %d bytes read; want %d records, %d bytes", n, ct.read.Load(), lines, size)
	}
	// The source never reads further ahead of what it emitted than its buffer and one line:
	// the file (here 17 MB) is streamed, never loaded.
	if bound := int64(64<<10 + maxLine); ahead > bound {
		t.Errorf("the source read up to %d bytes ahead of the records it emitted (file %d bytes); want ≤ %d", ahead, size, bound)
	}
	if size < 16<<20 {
		t.Fatalf("the file has %d bytes: too small to prove anything", size)
	}
}

func TestSourceLineTooLong(t *testing.T) {
	long := `{"Id":"bill-long","Notes":"` + strings.Repeat("x", 300<<10) + `"}`
	content := []byte(`{"Id":"bill-1"}` + "\n" + `{"Id":"bill-2"}` + "\n" + `{"Id":"bill-3"}` + "\n" + long + "\n" + `{"Id":"bill-5"}` + "\n")
	f := &fakeMews{files: []fakeFile{{content: content}}}
	src, ct := fakeSource(t, f, 64<<10)
	recs, err := providertest.Fetch(t.Context(), src, mews.EntityBill, "")
	if !errors.Is(err, mews.ErrLineTooLong) || !errors.Is(err, poll.ErrPermanent) {
		t.Fatalf("Fetch = %v, want an error wrapping ErrLineTooLong and poll.ErrPermanent", err)
	}
	for _, want := range []string{"exp-1", "file 1 of 1", "line 4", "65536 bytes", "MEWS_MAX_LINE_BYTES"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error shows the URL's signature: %v", err)
	}
	if got := strings.Join(data(recs), ","); got != "bill-1,bill-2,bill-3" {
		t.Errorf("records before the long line: %s", got)
	}
	if read := ct.read.Load(); read > 200<<10 {
		t.Errorf("read %d bytes: the long line (300 KiB) must not be read whole", read)
	}
	cp := lastNext(recs)
	if p := position(t, cp); p.Export == nil || p.Export.Line != 3 {
		t.Fatalf("checkpoint %s: want it before the long line", cp)
	}
	// Raised setting: the next poll resumes at that line.
	bigger, _ := fakeSource(t, f, 1<<20)
	rest := providertest.FetchAll(t, bigger, mews.EntityBill, cp)
	if got := strings.Join(data(rest), ","); got != "bill-long,bill-5" {
		t.Errorf("records after raising the limit: %s", got)
	}
	if f.ranges.Load() != 1 {
		t.Errorf("%d Range requests, want the resume to use one", f.ranges.Load())
	}
}

func TestSourceLineFormats(t *testing.T) {
	content := "\xef\xbb\xbf" + `{"Id":"a","x":1}` + "\r\n" +
		"\n" +
		"   \n" +
		`not json` + "\n" +
		`{"Name":"no id"}` + "\n" +
		`{"Id":"","Name":"blank id"}` + "\n" +
		`{"Id":"b","unknown":{"kept":[1.10,true]}}` // no final newline
	f := &fakeMews{files: []fakeFile{{content: []byte(content)}, {content: []byte{}}}}
	src, _ := fakeSource(t, f, 1024)
	recs := providertest.FetchAll(t, src, mews.EntityBill, "")
	var got []string
	for _, r := range recs {
		if r.Data != nil {
			got = append(got, string(r.Data))
			if r.ID == "" || (!strings.HasPrefix(r.ID, "no-id-") && r.ID != "a" && r.ID != "b") {
				t.Errorf("record id %q", r.ID)
			}
		}
	}
	want := []string{`{"Id":"a","x":1}`, `not json`, `{"Name":"no id"}`, `{"Id":"","Name":"blank id"}`, `{"Id":"b","unknown":{"kept":[1.10,true]}}`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("records\n%q\nwant\n%q", got, want)
	}
	if lastNext(recs) != mews.CheckpointAt(testNow.Add(-mews.DefaultEndLag)) {
		t.Errorf("final checkpoint %s", lastNext(recs))
	}
}

func TestSourceShortBodyIsRetriedNotDuplicated(t *testing.T) {
	content := []byte(`{"Id":"a"}` + "\n" + `{"Id":"b"}` + "\n")
	f := &fakeMews{files: []fakeFile{{content: content, size: int64(len(content)) + 10}}}
	src, _ := fakeSource(t, f, 1024)
	recs, err := providertest.Fetch(t.Context(), src, mews.EntityBill, "")
	if err == nil || !strings.Contains(err.Error(), "body ended at byte 22 of 32") {
		t.Fatalf("Fetch = %v, want the short body reported", err)
	}
	if got := strings.Join(data(recs), ","); got != "a,b" {
		t.Errorf("records %s: each line once, however often the file was retried", got)
	}
	if f.ranges.Load() == 0 {
		t.Error("the retries did not resume with Range")
	}
}

func TestSourceWaitsWithBackoffUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := mews.NewSimulator(sim.Options{Seed: 14, Records: 30, Now: providertest.Fixed(testNow)})
		cfg := startConfig("http://mews.sim.invalid")
		cfg.ExportWait = poll.Backoff{} // DefaultExportWait: 1s growing to 30s
		src := newSource(t, cfg, providertest.HandlerClient(s), providertest.Fixed(testNow))
		begin := time.Now()
		recs := providertest.FetchAll(t, src, mews.EntityBill, "")
		checkOnce(t, data(recs), s.Truth().Records)
		// add → Pending; getAll → Processing; a backoff wait; getAll → Success.
		if n := s.Truth().Requests["getAll"]; n != 2 {
			t.Errorf("%d status polls, want 2", n)
		}
		if waited := time.Since(begin); waited <= 0 || waited > time.Second {
			t.Errorf("waited %s between the status polls; want a first backoff step within 1s", waited)
		}
	})
}

func TestSourceGivesUpWaitingAndResumesNextPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := mews.NewSimulator(sim.Options{Seed: 15, Records: 30, Now: providertest.Fixed(testNow)})
		stuck := true
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if stuck && r.URL.Path == "/api/connector/v1/exports/getAll" {
				var req struct{ ExportIds []string }
				if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.ExportIds) != 1 {
					t.Errorf("status poll without one export id: %v", err)
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				io.WriteString(w, `{"Exports":[{"Id":"`+req.ExportIds[0]+`","Status":"Processing","EntityType":"Bill","Scope":null,"Files":[],"ExpiresUtc":null,"Filters":null}]}`)
				return
			}
			s.ServeHTTP(w, r)
		})
		cfg := startConfig("http://mews.sim.invalid")
		cfg.ExportWait = poll.Backoff{}
		src := newSource(t, cfg, providertest.HandlerClient(h), providertest.Fixed(testNow))
		begin := time.Now()
		recs, err := providertest.Fetch(t.Context(), src, mews.EntityBill, "")
		if err == nil || !strings.Contains(err.Error(), "still Processing after 60 status checks; the next poll resumes it") {
			t.Fatalf("Fetch = %v", err)
		}
		if errors.Is(err, poll.ErrAuth) || errors.Is(err, poll.ErrPermanent) {
			t.Errorf("a slow export is neither auth nor permanent: %v", err)
		}
		if waited := time.Since(begin); waited < 5*time.Minute {
			t.Errorf("gave up after %s of status polls; want the default wait of roughly a quarter hour", waited)
		}
		cp := lastNext(recs)
		if len(data(recs)) != 0 || position(t, cp).Export == nil {
			t.Fatalf("checkpoint %s after giving up: want the export kept", cp)
		}
		stuck = false
		again := providertest.FetchAll(t, src, mews.EntityBill, cp)
		checkOnce(t, data(again), s.Truth().Records)
		if a := adds(s.Truth(), mews.EntityBill); len(a) != 1 {
			t.Errorf("adds %v: the next poll must resume the same export", a)
		}
	})
}

// TestSourceUnderSimulatorFaults reads every bill once while the simulator refuses every other
// download as an expired URL and cuts every third response off half-way (what providersim's
// --fault-expire-url-every and --fault-truncate-every do in the chaos run).
func TestSourceUnderSimulatorFaults(t *testing.T) {
	s := mews.NewSimulator(sim.Options{Seed: 5, Records: 240, Now: providertest.Fixed(testNow),
		Faults: sim.Faults{ExpireURLEvery: 2, TruncateEvery: 3}})
	srv := providertest.Serve(t, s)
	cfg := startConfig(srv.URL)
	cfg.Backoff.MaxAttempts = 30
	src := newSource(t, cfg, srv.Client(), providertest.Fixed(testNow))
	recs := providertest.FetchAll(t, src, mews.EntityBill, "")
	checkOnce(t, data(recs), s.Truth().Records)
	if n := s.Truth().Requests["url-expired"]; n == 0 {
		t.Errorf("no download was refused as expired: the fault did not fire")
	}
}
