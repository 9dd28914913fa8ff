package plugsurfing_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/plugsurfing"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

func newSource(t *testing.T, cfg plugsurfing.Config, hc *http.Client, now func() time.Time) *plugsurfing.Source {
	t.Helper()
	src, err := plugsurfing.NewSource(cfg, hc, now)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// requestKey is the simulator's Truth().Requests key of one call (UTC offset +00:00).
func requestKey(scope, start, end string) string {
	f := func(s string) string { return plugsurfing.FormatTime(at(s), time.UTC) }
	return scope + " " + f(start) + ".." + f(end)
}

func TestSourceCheckpointPerUserNeverRefetched(t *testing.T) {
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 3, Records: 200, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))

	// Now 2026-11-20 12:00, settle 5m: intervals end at 11:55; re-read 24h: the checkpoint
	// stops at 2026-11-19 11:55. Windows of 3 days from the start, the last closed one shorter.
	closed := []string{"2026-11-05T00:00:00Z", "2026-11-08T00:00:00Z", "2026-11-11T00:00:00Z", "2026-11-14T00:00:00Z", "2026-11-17T00:00:00Z", "2026-11-19T11:55:00Z"}
	open := [2]string{"2026-11-19T11:55:00Z", "2026-11-20T11:55:00Z"}

	firstRecs := map[string][]poll.Record{}
	for _, u := range plugsurfing.SimUsers() {
		firstRecs[u.Scope()] = providertest.FetchAll(t, src, u.Scope(), "")
	}
	before := s.Truth().Requests
	for _, u := range plugsurfing.SimUsers() {
		scope := u.Scope()
		marks, _ := providertest.Split(firstRecs[scope])
		var want []poll.Checkpoint
		for _, c := range closed[1:] {
			want = append(want, plugsurfing.CheckpointAt(at(c)))
		}
		if !slices.Equal(marks, want) {
			t.Fatalf("%s: markers %q, want one per closed window: %q", scope, marks, want)
		}
		for i := 0; i+1 < len(closed); i++ {
			if k := requestKey(scope, closed[i], closed[i+1]); before[k] != 1 {
				t.Errorf("closed window %s requested %d times in the first poll, want 1", k, before[k])
			}
		}
		if k := requestKey(scope, open[0], open[1]); before[k] != 1 {
			t.Errorf("open window %s requested %d times, want 1 (requests: %v)", k, before[k], before)
		}
	}
	if n := len(before); n != len(plugsurfing.SimUsers())*len(closed) {
		t.Errorf("%d distinct calls, want %d per user: %v", n, len(closed), before)
	}

	// Each user resumes from its own checkpoint: no closed window of any user is asked again,
	// the open one of each user is.
	for _, u := range plugsurfing.SimUsers() {
		scope := u.Scope()
		marks, open1 := providertest.Split(firstRecs[scope])
		again := providertest.FetchAll(t, src, scope, marks[len(marks)-1])
		marks2, open2 := providertest.Split(again)
		if len(marks2) != 0 {
			t.Errorf("%s: the re-poll with the clock unchanged moved the checkpoint: %q", scope, marks2)
		}
		if !slices.Equal(open1, open2) {
			t.Errorf("%s: open-window bills %v, then %v", scope, open1, open2)
		}
	}
	after := s.Truth().Requests
	for k, n := range after {
		isOpen := strings.HasSuffix(k, plugsurfing.FormatTime(at(open[0]), time.UTC)+".."+plugsurfing.FormatTime(at(open[1]), time.UTC))
		switch {
		case isOpen && n != before[k]+1:
			t.Errorf("open window %s: %d requests, then %d; want one more", k, before[k], n)
		case !isOpen && n != before[k]:
			t.Errorf("closed window %s was fetched again (%d, then %d requests)", k, before[k], n)
		}
	}
}

func TestSourceWindowsAreBoundedAndContiguous(t *testing.T) {
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 10, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	cfg := testConfig(srv.URL)
	cfg.Start, cfg.Window, cfg.Reread = "2026-10-01T10:30:00+02:00", 50*time.Hour, 0
	scope := plugsurfing.SimUsers()[1].Scope()
	recs := providertest.FetchAll(t, newSource(t, cfg, srv.Client(), providertest.Fixed(testNow)), scope, "")
	var calls [][2]time.Time
	for k := range s.Truth().Requests {
		interval, _ := strings.CutPrefix(k, scope+" ")
		a, b, _ := strings.Cut(interval, "..")
		calls = append(calls, [2]time.Time{at(a), at(b)})
	}
	slices.SortFunc(calls, func(x, y [2]time.Time) int { return x[0].Compare(y[0]) })
	if !calls[0][0].Equal(at("2026-10-01T08:30:00Z")) || !calls[len(calls)-1][1].Equal(at("2026-11-20T11:55:00Z")) {
		t.Errorf("calls cover %s … %s, want 2026-10-01T08:30:00Z … 2026-11-20T11:55:00Z", calls[0][0], calls[len(calls)-1][1])
	}
	for i, c := range calls {
		if d := c[1].Sub(c[0]); d <= 0 || d > cfg.Window {
			t.Errorf("call %d spans %s, want (0, %s]", i, d, cfg.Window)
		}
		if i > 0 && !c[0].Equal(calls[i-1][1]) {
			t.Errorf("call %d starts at %s, the previous ended at %s", i, c[0], calls[i-1][1])
		}
	}
	// Re-read 0: the last checkpoint is the interval end, and a re-poll asks for nothing.
	marks, open := providertest.Split(recs)
	if last := marks[len(marks)-1]; last != plugsurfing.CheckpointAt(at("2026-11-20T11:55:00Z")) || len(open) != 0 {
		t.Fatalf("last checkpoint %s with %d bills after it; want the interval end and none", last, len(open))
	}
	n := len(s.Truth().Requests)
	providertest.FetchAll(t, newSource(t, cfg, srv.Client(), providertest.Fixed(testNow)), scope, marks[len(marks)-1])
	if len(s.Truth().Requests) != n {
		t.Errorf("a caught-up user was fetched again")
	}
}

func TestSourcePicksUpLateBills(t *testing.T) {
	clk := providertest.NewClock(time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC))
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 5, Records: 240, Now: clk.Now})
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client(), clk.Now)

	seen := map[string]bool{}
	cps := map[string]poll.Checkpoint{}
	pollAll := func() (fresh int) {
		for _, u := range plugsurfing.SimUsers() {
			for _, r := range providertest.FetchAll(t, src, u.Scope(), cps[u.Scope()]) {
				if r.Next != "" {
					cps[u.Scope()] = r.Next
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
		t.Fatalf("first poll saw %d bills, the simulator holds %d", len(seen), s.Truth().Records)
	}
	for _, now := range []time.Time{
		time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC), // bills dated before the last poll appear
		time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
	} {
		clk.Set(now)
		before := len(seen)
		fresh := pollAll()
		if want := s.Truth().Records; len(seen) != want {
			t.Fatalf("at %s: %d bills seen over all polls, the simulator holds %d", now, len(seen), want)
		}
		if fresh == 0 && s.Truth().Records > before {
			t.Fatalf("at %s: late bills were not picked up", now)
		}
	}
	if got, want := cps["username:some_user"], plugsurfing.CheckpointAt(at("2026-11-21T23:55:00Z")); got != want {
		t.Errorf("checkpoint on the 23rd = %s, want %s", got, want)
	}
}

func TestSourceDefaultStartIs720hBack(t *testing.T) {
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 10, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	cfg := testConfig(srv.URL)
	cfg.Start = ""
	providertest.FetchAll(t, newSource(t, cfg, srv.Client(), providertest.Fixed(testNow)), "username:some_user", "")
	want := requestKey("username:some_user", "2026-10-21T12:00:00Z", "2026-10-24T12:00:00Z")
	if s.Truth().Requests[want] != 1 {
		t.Errorf("first poll did not start 720h before now with %s: %v", want, s.Truth().Requests)
	}
}

// TestSourceEmitsABoundaryBillOnce: an API that includes the interval end returns a bill dated
// on a boundary in two intervals; one Fetch emits it once.
func TestSourceEmitsABoundaryBillOnce(t *testing.T) {
	c := &providertest.Counter{H: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(providertest.Testdata(t, "usergetbills_response.json"))
	})}
	srv := providertest.Serve(t, c)
	recs := providertest.FetchAll(t, newSource(t, testConfig(srv.URL), srv.Client(), providertest.Fixed(testNow)), "username:some_user", "")
	marks, _ := providertest.Split(recs)
	var ids []string
	for _, r := range recs {
		if r.Data != nil {
			ids = append(ids, r.ID)
		}
	}
	if c.Count() < 3 || len(ids) != 2 || len(marks) == 0 {
		t.Fatalf("%d calls gave bills %v and %d markers; want each bill once", c.Count(), ids, len(marks))
	}
	if ids[0] != plugsurfing.BillID("https://api.plugsurfing.com/uploads/bills/Invoice-201503051-10000.pdf") {
		t.Errorf("record id %s is not BillID of the URL", ids[0])
	}
}

func TestBillID(t *testing.T) {
	seedURL := "https://api.plugsurfing.com/uploads/bills/Invoice-201503051-10000.pdf"
	id := plugsurfing.BillID(seedURL)
	if id != plugsurfing.BillID("  "+seedURL+"\n") || id == plugsurfing.BillID(seedURL+"?v=2") {
		t.Error("BillID must ignore surrounding white space and nothing else")
	}
	if !strings.HasPrefix(id, "bill-") || len(id) != len("bill-")+32 || strings.Trim(id[5:], "0123456789abcdef") != "" {
		t.Errorf("BillID = %q, want bill- and 32 hex digits", id)
	}
	// Pinned: the id is part of the data contract (ce-subject, invoice source_id).
	if want := "bill-9337f0bc9404043283d24efe429626fd"; id != want {
		t.Errorf("BillID(%s) = %s, want %s: changing it re-keys every stored invoice", seedURL, id, want)
	}
}

func TestSourceStops(t *testing.T) {
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 1, Records: 30, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	errStop := errors.New("stop")
	providertest.CheckFetchFailures(t, src, errStop, []providertest.FetchFailure{
		{Name: "unknown scope", Scope: "username:someone", Is: poll.ErrPermanent},
		{Name: "token-type identifier as scope", Scope: "token:" + plugsurfing.SimUsers()[3].Identifier, Is: poll.ErrPermanent},
		{Name: "malformed checkpoint", Scope: "username:some_user", From: "2026-11-19", Is: poll.ErrPermanent},
		{Name: "checkpoint without a time", Scope: "username:some_user", From: `{"next_start":"soon"}`, Is: poll.ErrPermanent},
		{Name: "emit error", Scope: "username:some_user", Emit: func(poll.Record) error { return errStop }, Is: errStop},
	})
}

func TestSourceScopesHideTokens(t *testing.T) {
	src := newSource(t, testConfig("http://127.0.0.1:8081"), nil, nil)
	scopes, err := src.Scopes(t.Context())
	if err != nil || len(scopes) != 4 {
		t.Fatalf("Scopes = %v, %v", scopes, err)
	}
	want := []string{"username:some_user", "rfid:04AB12CD34EF56", "evco-id:DE-PLS-C12345678-4"}
	if !slices.Equal(scopes[:3], want) {
		t.Errorf("Scopes = %v, want %v first", scopes, want)
	}
	for _, u := range plugsurfing.SimUsers() {
		for _, sc := range scopes {
			if strings.Contains(sc, u.Token.Reveal()) || (u.IdentifierType == plugsurfing.IdentifierToken && strings.Contains(sc, u.Identifier)) {
				t.Errorf("scope %q shows a secret", sc)
			}
		}
	}
}

// badTokenEnv is the simulator's environment with the rfid user's token replaced.
func badTokenEnv(baseURL string) map[string]string {
	env := plugsurfing.SimEnv(baseURL)
	env["PLUGSURFING_TOKENS"] = strings.Replace(env["PLUGSURFING_TOKENS"], "rfid:04AB12CD34EF56=5f0c", "rfid:04AB12CD34EF56=0000", 1)
	return env
}

func TestSourceAuthFailureIsolatesTheUser(t *testing.T) {
	c := &providertest.Counter{H: plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 4, Records: 120, Now: providertest.Fixed(testNow)})}
	srv := providertest.Serve(t, c)
	p := plugsurfing.Provider{Now: providertest.Fixed(testNow)}
	src, err := p.NewSource(providertest.Values(t, p, badTokenEnv(srv.URL)), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	good := providertest.FetchAll(t, src, "username:some_user", "")
	if _, open := providertest.Split(good); len(good) == 0 || len(open) == len(good) {
		t.Fatalf("the good user got %d records", len(good))
	}
	n := c.Count()
	var emitted int
	err = src.Fetch(t.Context(), "rfid:04AB12CD34EF56", "", func(poll.Record) error { emitted++; return nil })
	if !errors.Is(err, poll.ErrAuth) || !errors.Is(err, plugsurfing.ErrUserTokenInvalid) {
		t.Fatalf("Fetch with a bad token = %v, want poll.ErrAuth and result 145", err)
	}
	for _, want := range []string{"user rfid:04AB12CD34EF56", "result 145", "User token not valid", "PLUGSURFING_TOKENS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "0000") || emitted != 0 || c.Count() != n+1 {
		t.Errorf("bad token: error %q, %d records, %d calls; want no token, no records, one call", err, emitted, c.Count()-n)
	}
	// The others keep flowing.
	for _, scope := range []string{"evco-id:DE-PLS-C12345678-4", plugsurfing.SimUsers()[3].Scope()} {
		providertest.FetchAll(t, src, scope, "")
	}
}

// TestSchedulerPausesOnlyTheRefusedUser runs the real scheduler on an embedded NATS: one user's
// token is refused, the other users' bills are published and their checkpoints advance.
func TestSchedulerPausesOnlyTheRefusedUser(t *testing.T) {
	ns := natstest.Start(t)
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 4, Records: 120, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	p := plugsurfing.Provider{Now: providertest.Fixed(testNow)}
	v := providertest.Values(t, p, badTokenEnv(srv.URL))
	src, err := p.NewSource(v, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	sched, err := poll.NewScheduler(t.Context(), poll.Config{Provider: plugsurfing.Name, Now: providertest.Fixed(testNow)}, src, ns.JS, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := ns.JS.KeyValue(t.Context(), bus.BucketCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	cps := poll.NewCheckpoints(kv)

	// What the three good users hold, fetched directly with the right tokens.
	okSrc, err := p.NewSource(providertest.Values(t, p, plugsurfing.SimEnv(srv.URL)), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	wantRaw := 0
	for _, u := range plugsurfing.SimUsers() {
		if u.IdentifierType == plugsurfing.IdentifierRFID {
			continue
		}
		for _, r := range providertest.FetchAll(t, okSrc, u.Scope(), "") {
			if r.Data != nil {
				wantRaw++
			}
		}
	}

	for round := 1; round <= 2; round++ {
		err := sched.RunOnce(t.Context())
		if !errors.Is(err, poll.ErrAuth) || !strings.Contains(err.Error(), "rfid:04AB12CD34EF56") || !strings.Contains(err.Error(), "result 145") {
			t.Fatalf("round %d: RunOnce = %v, want the rfid user's auth failure", round, err)
		}
		for _, u := range plugsurfing.SimUsers() {
			cp, _, err := cps.Get(t.Context(), plugsurfing.Name, u.Scope())
			if err != nil {
				t.Fatal(err)
			}
			want := plugsurfing.CheckpointAt(at("2026-11-19T11:55:00Z"))
			if u.IdentifierType == plugsurfing.IdentifierRFID {
				want = "" // paused: never moved
			}
			if cp != want {
				t.Errorf("round %d: user %s checkpoint %q, want %q", round, u.Scope(), cp, want)
			}
		}
		st, err := ns.JS.Stream(t.Context(), bus.StreamRaw)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// Round 2 re-reads the open stretch: same ids, same bytes, dropped as duplicates.
		if int(info.State.Msgs) != wantRaw {
			t.Errorf("round %d: RAW holds %d bills, the three other users hold %d", round, info.State.Msgs, wantRaw)
		}
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	in := time.Date(2026, 11, 19, 12, 55, 7, 500, time.FixedZone("x", 3600))
	cp := plugsurfing.CheckpointAt(in)
	if cp != `{"next_start":"2026-11-19T11:55:07Z"}` {
		t.Errorf("CheckpointAt = %s", cp)
	}
	got, err := plugsurfing.ParseCheckpoint(cp)
	if err != nil || !got.Equal(in.Truncate(time.Second)) {
		t.Errorf("ParseCheckpoint(%s) = %v, %v", cp, got, err)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(cp), &v); err != nil || len(v) != 1 {
		t.Errorf("checkpoint %s is not a one-field JSON object", cp)
	}
}

func TestBackfillCheckpoint(t *testing.T) {
	p := plugsurfing.Provider{}
	from := at("2026-11-10T07:30:00+01:00")
	cp, err := p.BackfillCheckpoint(from)
	if err != nil || cp != plugsurfing.CheckpointAt(from) {
		t.Fatalf("BackfillCheckpoint = %s, %v", cp, err)
	}
	if got, err := p.CheckpointTime(cp); err != nil || !got.Equal(from) {
		t.Errorf("CheckpointTime(%s) = %v, %v; want %v", cp, got, err, from)
	}
	if _, err := p.CheckpointTime(`{"next_day":"2026-11-10"}`); !errors.Is(err, poll.ErrPermanent) {
		t.Errorf("a foreign checkpoint: %v, want poll.ErrPermanent", err)
	}
	// A backfill from a bill's instant reads that bill: intervals start at the checkpoint.
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 3, Records: 40, Now: providertest.Fixed(testNow)})
	srv := providertest.Serve(t, s)
	src := newSource(t, testConfig(srv.URL), srv.Client(), providertest.Fixed(testNow))
	all := providertest.FetchAll(t, src, "username:some_user", "")
	cp, _ = p.BackfillCheckpoint(at("2026-11-05T00:00:00Z"))
	again := providertest.FetchAll(t, src, "username:some_user", cp)
	if len(again) != len(all) {
		t.Errorf("a backfill from the configured start gave %d records, the first poll %d", len(again), len(all))
	}
}
