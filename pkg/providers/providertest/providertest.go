// Package providertest is the conformance suite every provider runs against its own simulator:
// it checks the real client and poll source for exactly-once records with deterministic ids,
// checkpoints that are never re-fetched, resumable cancellation, retries that honour
// Retry-After, auth failures that do not loop, and a mapping that is total and deterministic.
//
// A provider adopts it in one test (in its _test package, since this package imports
// pkg/providers):
//
//	func TestConformance(t *testing.T) {
//		now := func() time.Time { return fixed }
//		providertest.Run(t, bemo.Provider{Now: now}, providertest.Features{
//			Config: func(t testing.TB, url string) config.Values {
//				return providertest.Values(t, bemo.Provider{}, bemo.SimEnv(url))
//			},
//			Now: now,
//		})
//	}
package providertest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// Features describes what the suite needs to know about one provider. Config is required.
type Features struct {
	// Config returns the provider's settings pointing its source at a simulator served at
	// baseURL, with the credentials the simulator accepts and every scope it serves (Values
	// builds them from an environment map). t is the running subtest: fail it, not the parent.
	Config func(t testing.TB, baseURL string) config.Values
	// Now is the clock every simulator of the suite gets. Build the provider under test with the
	// same clock so source and simulator agree on "today". Nil means time.Now (inside the
	// synctest scenarios that is the bubble's fake clock).
	Now func() time.Time
	// Seed and Records are passed to the simulators; zero means 1 and 150.
	Seed    int64
	Records int
	// Totals says every event carries total_amount and currency (as charging_session.v1 and
	// invoice.v1 do) and that, per currency, they add up to the simulator's Truth().Totals.
	Totals bool
}

// Run runs the conformance scenarios as subtests of t. The baseline scenarios talk to the
// simulator over a real httptest server; the time-driven ones (Retry-After, 5xx retries,
// refused credentials) run under testing/synctest with an in-memory transport, so backoff and
// Retry-After cost no wall-clock time and their waits are checked exactly. Do not cap the
// provider's Retry-After (poll.Backoff.MaxRetryAfter) below the simulator's, or
// RetryAfterHonoured fails.
func Run(t *testing.T, p providers.Provider, f Features) {
	t.Helper()
	if f.Config == nil {
		t.Fatal("providertest: Features.Config is required")
	}
	if f.Seed == 0 {
		f.Seed = 1
	}
	if f.Records == 0 {
		f.Records = 150
	}
	s := suite{p: p, f: f}
	t.Run("EachRecordOnce", s.eachRecordOnce)
	t.Run("DeterministicIDs", s.deterministicIDs)
	t.Run("RepollFromCheckpoint", s.repollFromCheckpoint)
	t.Run("CancelledPollResumes", s.cancelledPollResumes)
	t.Run("RetryAfterHonoured", s.retryAfterHonoured)
	t.Run("ServerErrorsRetried", s.serverErrorsRetried)
	t.Run("BadCredentials", s.badCredentials)
	t.Run("MapEveryRecord", s.mapEveryRecord)
}

// Values loads p's settings from env alone (no flags), failing t on invalid settings.
func Values(t testing.TB, p providers.Provider, env map[string]string) config.Values {
	t.Helper()
	fs := flag.NewFlagSet(p.Name(), flag.ContinueOnError)
	v, err := config.Load(fs, nil, func(k string) string { return env[k] }, p.Settings())
	if err != nil {
		t.Fatalf("providertest: load %s settings: %v", p.Name(), err)
	}
	return v
}

// HandlerClient returns an *http.Client that serves every request in memory from h, with no
// network and no goroutines: what a synctest bubble needs.
func HandlerClient(h http.Handler) *http.Client {
	return &http.Client{Transport: handlerTransport{h}}
}

type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	r2 := r.Clone(r.Context())
	r2.RequestURI = r.URL.RequestURI()
	r2.Host = r.URL.Host
	ht.h.ServeHTTP(rec, r2)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

type suite struct {
	p providers.Provider
	f Features
}

// harness is one simulator with a source pointed at it.
type harness struct {
	sim      sim.Simulator
	src      poll.Source
	statuses *statusCounter
}

// statusCounter counts the responses the simulator served, by status.
type statusCounter struct {
	mu sync.Mutex
	n  map[int]int
}

func (c *statusCounter) get(status int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[status]
}

func (c *statusCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := 0
	for _, n := range c.n {
		sum += n
	}
	return sum
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s suite) options(faults sim.Faults) sim.Options {
	return sim.Options{Seed: s.f.Seed, Records: s.f.Records, Now: s.f.Now, Faults: faults}
}

// start serves a fresh simulator, over httptest unless inMemory (synctest scenarios).
func (s suite) start(t *testing.T, faults sim.Faults, inMemory bool) *harness {
	t.Helper()
	h := &harness{sim: s.p.NewSimulator(s.options(faults)), statuses: &statusCounter{n: map[int]int{}}}
	counting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.sim.ServeHTTP(sw, r)
		h.statuses.mu.Lock()
		h.statuses.n[sw.status]++
		h.statuses.mu.Unlock()
	})
	var (
		base string
		hc   *http.Client
	)
	if inMemory {
		base, hc = "http://"+s.p.Name()+".sim.invalid", HandlerClient(counting)
	} else {
		srv := httptest.NewServer(counting)
		t.Cleanup(srv.Close)
		base, hc = srv.URL, srv.Client()
	}
	src, err := s.p.NewSource(s.f.Config(t, base), hc)
	if err != nil {
		t.Fatalf("%s: NewSource with the simulator's settings: %v", s.p.Name(), err)
	}
	h.src = src
	return h
}

func (h *harness) scopes(t *testing.T) []string {
	t.Helper()
	scopes, err := h.src.Scopes(t.Context())
	if err != nil {
		t.Fatalf("Scopes: %v", err)
	}
	if len(scopes) == 0 {
		t.Fatal("Scopes returned none: Features.Config must configure the simulator's scopes")
	}
	return scopes
}

// pollAll fetches every scope from the beginning, failing t on an error.
func (h *harness) pollAll(t *testing.T) map[string][]poll.Record {
	t.Helper()
	out := map[string][]poll.Record{}
	for _, scope := range h.scopes(t) {
		recs, err := Fetch(t.Context(), h.src, scope, "")
		if err != nil {
			t.Fatalf("Fetch(%q) from the beginning: %v", scope, err)
		}
		out[scope] = recs
	}
	return out
}

func (s suite) rawID(r poll.Record) string {
	return events.RawID(s.p.Name(), r.Resource, r.ID, r.Data)
}

// rawIDs lists the raw ids of the data records, in order.
func (s suite) rawIDs(recs []poll.Record) []string {
	var ids []string
	for _, r := range recs {
		if r.Data != nil {
			ids = append(ids, s.rawID(r))
		}
	}
	return ids
}

// covered returns the raw ids of the data records the last checkpoint in recs covers, and that
// checkpoint ("" when none).
func (s suite) covered(recs []poll.Record) (map[string]bool, poll.Checkpoint) {
	last := -1
	for i, r := range recs {
		if r.Next != "" {
			last = i
		}
	}
	ids := map[string]bool{}
	if last < 0 {
		return ids, ""
	}
	for _, r := range recs[:last+1] {
		if r.Data != nil {
			ids[s.rawID(r)] = true
		}
	}
	return ids, recs[last].Next
}

// checkOnce asserts that every data record is well formed and appears once, and that together
// they are the simulator's Truth().Records.
func (s suite) checkOnce(t *testing.T, h *harness, byScope map[string][]poll.Record) {
	t.Helper()
	n := 0
	for scope, recs := range byScope {
		seen := map[string]bool{}
		for _, r := range recs {
			if r.Data == nil {
				if r.Next == "" {
					t.Errorf("scope %q: a marker record (Data nil) without Next", scope)
				}
				continue
			}
			n++
			if r.Resource == "" || r.ID == "" {
				t.Errorf("scope %q: record with empty Resource %q or ID %q", scope, r.Resource, r.ID)
			}
			key := r.Resource + "/" + r.ID
			if seen[key] {
				t.Errorf("scope %q: record %s emitted twice in one poll", scope, key)
			}
			seen[key] = true
		}
	}
	if want := h.sim.Truth().Records; n != want {
		t.Errorf("one full poll emitted %d records, the simulator holds %d", n, want)
	}
}

func (s suite) eachRecordOnce(t *testing.T) {
	h := s.start(t, sim.Faults{}, false)
	s.checkOnce(t, h, h.pollAll(t))
}

func (s suite) deterministicIDs(t *testing.T) {
	a := s.start(t, sim.Faults{}, false).pollAll(t)
	b := s.start(t, sim.Faults{}, false).pollAll(t)
	for scope, recs := range a {
		ida, idb := s.rawIDs(recs), s.rawIDs(b[scope])
		if fmt.Sprint(ida) != fmt.Sprint(idb) {
			t.Errorf("scope %q: two polls of identical simulators gave different raw ids:\n%v\n%v", scope, ida, idb)
		}
	}
}

func (s suite) repollFromCheckpoint(t *testing.T) {
	h := s.start(t, sim.Faults{}, false)
	for scope, first := range h.pollAll(t) {
		done, cp := s.covered(first)
		all := map[string]bool{}
		for _, id := range s.rawIDs(first) {
			all[id] = true
		}
		again, err := Fetch(t.Context(), h.src, scope, cp)
		if err != nil {
			t.Fatalf("scope %q: Fetch from checkpoint %q: %v", scope, cp, err)
		}
		got := map[string]bool{}
		for _, id := range s.rawIDs(again) {
			got[id] = true
			if done[id] {
				t.Errorf("scope %q: record %s is covered by checkpoint %q but was fetched again", scope, id, cp)
			}
			if !all[id] {
				t.Errorf("scope %q: re-poll emitted record %s the first poll never saw (the clock did not move)", scope, id)
			}
		}
		for id := range all {
			if !done[id] && !got[id] {
				t.Errorf("scope %q: record %s is after checkpoint %q but the re-poll lost it", scope, id, cp)
			}
		}
	}
}

func (s suite) cancelledPollResumes(t *testing.T) {
	h := s.start(t, sim.Faults{}, false)
	full := h.pollAll(t)
	// The busiest scope, so the cut lands among records.
	var scope string
	for sc, recs := range full {
		if scope == "" || len(s.rawIDs(recs)) > len(s.rawIDs(full[scope])) {
			scope = sc
		}
	}
	want := s.rawIDs(full[scope])
	if len(want) < 2 {
		t.Fatalf("scope %q has %d records: raise Features.Records", scope, len(want))
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var before []poll.Record
	data, stopped, lateEmits := 0, false, 0
	err := h.src.Fetch(ctx, scope, "", func(r poll.Record) error {
		if stopped {
			lateEmits++
			return ctx.Err()
		}
		before = append(before, r)
		if r.Data != nil {
			data++
		}
		if data == len(want)/2 {
			stopped = true
			cancel()
			return ctx.Err()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch cancelled from emit returned %v, want an error wrapping context.Canceled", err)
	}
	if lateEmits > 0 {
		t.Errorf("Fetch called emit %d more times after emit returned an error", lateEmits)
	}

	done, cp := s.covered(before)
	resumed, err := Fetch(t.Context(), h.src, scope, cp)
	if err != nil {
		t.Fatalf("resume from checkpoint %q: %v", cp, err)
	}
	got := map[string]bool{}
	for id := range done {
		got[id] = true
	}
	for _, id := range s.rawIDs(resumed) {
		if done[id] {
			t.Errorf("record %s was durable before the cancel (checkpoint %q) and was fetched again", id, cp)
		}
		got[id] = true
	}
	for _, id := range want {
		if !got[id] {
			t.Errorf("record %s is missing after resuming from checkpoint %q", id, cp)
		}
	}
}

func (s suite) retryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const retryAfter = 2 * time.Second
		h := s.start(t, sim.Faults{TooManyRequestsEvery: 3, RetryAfter: retryAfter}, true)
		begin := time.Now()
		recs := h.pollAll(t)
		elapsed := time.Since(begin)
		s.checkOnce(t, h, recs)
		n := h.statuses.get(http.StatusTooManyRequests)
		if n == 0 {
			t.Fatal("the simulator served no 429: Faults.TooManyRequestsEvery is not wired")
		}
		// Fake time only passes while the source waits, so this is exact, not a timing guess.
		if least := time.Duration(n) * retryAfter; elapsed < least {
			t.Errorf("%d responses said Retry-After %s, but the poll waited only %s in total", n, retryAfter, elapsed)
		}
	})
}

func (s suite) serverErrorsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := s.start(t, sim.Faults{ServerErrorEvery: 4}, true)
		recs := h.pollAll(t)
		s.checkOnce(t, h, recs)
		if h.statuses.get(http.StatusInternalServerError) == 0 {
			t.Fatal("the simulator served no 500: Faults.ServerErrorEvery is not wired")
		}
	})
}

func (s suite) badCredentials(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults sim.Faults
	}{
		{"ExpiredToken", sim.Faults{ExpiredToken: true}},
		{"MissingToken", sim.Faults{MissingToken: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := s.start(t, tc.faults, true)
				scope := h.scopes(t)[0]
				recs, err := Fetch(t.Context(), h.src, scope, "")
				if !errors.Is(err, poll.ErrAuth) {
					t.Fatalf("Fetch(%q) with refused credentials returned %v, want an error wrapping poll.ErrAuth", scope, err)
				}
				if ids := s.rawIDs(recs); len(ids) > 0 {
					t.Errorf("Fetch emitted %d records with refused credentials", len(ids))
				}
				// One request, or two for a source that re-authenticates once: never a retry loop.
				if n := h.statuses.total(); n > 2 {
					t.Errorf("refused credentials were sent %d times; auth failures must not be retried", n)
				}
			})
		})
	}
}

func (s suite) mapEveryRecord(t *testing.T) {
	h := s.start(t, sim.Faults{}, false)
	fetched := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	totals := map[string][]string{}
	mapped, seq := 0, uint64(0)
	for scope, recs := range h.pollAll(t) {
		for _, r := range recs {
			if r.Data == nil {
				continue
			}
			seq++
			raw := events.Raw{
				ID: s.rawID(r), Provider: s.p.Name(), Resource: r.Resource, Scope: scope,
				RecordID: r.ID, FetchedAt: fetched, Data: r.Data, Sequence: seq,
			}
			evs, err := s.p.Map(raw)
			if err != nil {
				if !errors.Is(err, events.ErrUnmappable) {
					t.Errorf("Map(%s/%s) = %v: a mapping failure must wrap events.ErrUnmappable", r.Resource, r.ID, err)
				}
				continue
			}
			mapped++
			for _, ev := range evs {
				s.checkEvent(t, raw, ev)
				if s.f.Totals {
					var money struct {
						TotalAmount string `json:"total_amount"`
						Currency    string `json:"currency"`
					}
					_ = json.Unmarshal(ev.Data, &money)
					if money.TotalAmount != "" {
						totals[money.Currency] = append(totals[money.Currency], money.TotalAmount)
					}
				}
			}
			// Same raw record, same events; a replay at another sequence keeps the ce-id.
			again, err := s.p.Map(raw)
			if err != nil || fmt.Sprint(eventKeys(again)) != fmt.Sprint(eventKeys(evs)) {
				t.Errorf("Map(%s/%s) is not deterministic: %v / %v (%v)", r.Resource, r.ID, eventKeys(evs), eventKeys(again), err)
			}
			replay := raw
			replay.Sequence += 1_000_000
			replay.FetchedAt = fetched.Add(time.Hour)
			if re, err := s.p.Map(replay); err != nil || fmt.Sprint(eventIDs(re)) != fmt.Sprint(eventIDs(evs)) {
				t.Errorf("Map(%s/%s) replayed at another sequence changed the ce-ids: %v / %v (%v)", r.Resource, r.ID, eventIDs(evs), eventIDs(re), err)
			}
		}
	}
	if seq > 0 && mapped == 0 {
		t.Errorf("none of the simulator's %d records mapped", seq)
	}
	if s.f.Totals {
		want := h.sim.Truth().Totals
		for cur, amounts := range totals {
			sum, err := events.AddDecimals(amounts...)
			if err != nil {
				t.Errorf("currency %s: %v", cur, err)
				continue
			}
			if !sameDecimal(sum, want[cur]) {
				t.Errorf("events total %s %s, the simulator holds %s", sum, cur, want[cur])
			}
		}
		for cur, w := range want {
			if _, ok := totals[cur]; !ok && !sameDecimal(w, "0") {
				t.Errorf("no event carries currency %s, the simulator holds %s %s", cur, w, cur)
			}
		}
	}
}

// checkEvent asserts the envelope fields and the contract every event body keeps
// (schema_version, lineage back to the raw record).
func (s suite) checkEvent(t *testing.T, raw events.Raw, ev events.Event) {
	t.Helper()
	if ev.ID == "" || ev.Type == "" || ev.Source == "" || ev.Subject == "" || ev.Time.IsZero() {
		t.Errorf("Map(%s): event with empty id, type, source, subject or time: %+v", raw.RecordID, ev)
	}
	if ev.Provider != s.p.Name() {
		t.Errorf("Map(%s): event provider %q, want %q", raw.RecordID, ev.Provider, s.p.Name())
	}
	var body struct {
		SchemaVersion string         `json:"schema_version"`
		Lineage       events.Lineage `json:"lineage"`
	}
	if err := json.Unmarshal(ev.Data, &body); err != nil {
		t.Errorf("Map(%s): event data is not a JSON object: %v", raw.RecordID, err)
		return
	}
	if body.SchemaVersion != events.SchemaVersion {
		t.Errorf("Map(%s): schema_version %q, want %q", raw.RecordID, body.SchemaVersion, events.SchemaVersion)
	}
	if body.Lineage.RawID != raw.ID || body.Lineage.RawSequence != raw.Sequence {
		t.Errorf("Map(%s): lineage %+v does not point at raw %s seq %d", raw.RecordID, body.Lineage, raw.ID, raw.Sequence)
	}
}

func eventIDs(evs []events.Event) []string {
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	return ids
}

func eventKeys(evs []events.Event) []string {
	var keys []string
	for _, e := range evs {
		keys = append(keys, e.ID+" "+e.Subject+" "+e.Time.String()+" "+string(e.Data))
	}
	return keys
}

func sameDecimal(a, b string) bool {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}
