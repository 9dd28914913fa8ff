package mews_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// TestSchedulerAdvancesWindowOnlyWhenEveryLineIsDurable runs the source under the real poll
// scheduler and JetStream, mounted like providersim mounts the simulator. RAW first refuses
// messages after the 75th: the stored checkpoint must stop inside the export (file 2, line 25),
// never at the window's end. Once RAW accepts again, the next cycle resumes that export at
// that line, without a new exports/add and without reading file 1 again, and only then moves
// the checkpoint to the next window.
func TestSchedulerAdvancesWindowOnlyWhenEveryLineIsDurable(t *testing.T) {
	ns := natstest.Start(t)
	s := mews.NewSimulator(sim.Options{Seed: 21, Records: 120, Now: providertest.Fixed(testNow)})
	mux := http.NewServeMux()
	mux.Handle("/mews/", http.StripPrefix("/mews", s))
	srv := providertest.Serve(t, mux)

	p := mews.Provider{
		Now:        providertest.Fixed(testNow),
		Backoff:    poll.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond, MaxAttempts: 3},
		ExportWait: poll.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond, MaxAttempts: 20},
	}
	env := p.SimEnv(srv.URL + "/mews")
	env["MEWS_ENTITY_TYPES"] = "Bill"
	src, err := p.NewSource(providertest.Values(t, p, env), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	sched, err := poll.NewScheduler(t.Context(), poll.Config{
		Provider: mews.Name, Window: 16, CommitEvery: 7,
		Backoff: poll.Backoff{Initial: time.Millisecond, MaxAttempts: 2},
	}, src, ns.JS, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ns.JS.Stream(t.Context(), bus.StreamRaw)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	setMax := func(n int64) {
		cfg.MaxMsgs = n
		if _, err := ns.JS.UpdateStream(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := ns.JS.KeyValue(t.Context(), bus.BucketCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	stored := func() mews.Position {
		cp, _, err := poll.NewCheckpoints(kv).Get(t.Context(), mews.Name, mews.EntityBill)
		if err != nil {
			t.Fatal(err)
		}
		return position(t, cp)
	}

	setMax(75)
	if err := sched.RunOnce(t.Context()); err == nil {
		t.Fatal("RunOnce into a full RAW stream: want an error")
	}
	p1 := stored()
	if p1.Export == nil || p1.Export.File != 1 || p1.Export.Line != 25 || !p1.From.Equal(testNow.AddDate(0, 0, -mews.DefaultStartDays)) {
		t.Fatalf("stored checkpoint %+v (export %+v): want file index 1, line 25 of the first window's export", p1, p1.Export)
	}

	setMax(-1)
	if err := sched.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p2 := stored(); p2.Export != nil || !p2.From.Equal(testNow.Add(-mews.DefaultEndLag)) {
		t.Fatalf("stored checkpoint %+v: want the next window's start", p2)
	}
	info, err := st.Info(t.Context(), jetstream.WithSubjectFilter("raw.mews.bill"))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects["raw.mews.bill"]; got != uint64(s.Truth().Records) {
		t.Errorf("raw.mews.bill holds %d messages, want the %d bills", got, s.Truth().Records)
	}
	truth := s.Truth()
	id := p1.Export.ID
	if len(adds(truth, mews.EntityBill)) != 1 || truth.Requests["file "+id+" 1"] != 1 || truth.Requests["range "+id+" 2"] != 1 {
		t.Errorf("requests %v: want one add, file 1 read once and file 2 resumed with Range", truth.Requests)
	}

	// Caught up: another cycle adds nothing.
	if err := sched.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(adds(s.Truth(), mews.EntityBill)) != 1 {
		t.Errorf("a caught-up cycle added an export: %v", s.Truth().Requests)
	}
}
