package devstack_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/devstack"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	"github.com/chargeline/chargeline/pkg/sink"
	"github.com/chargeline/chargeline/pkg/tracing"
	eventschema "github.com/chargeline/chargeline/schemas/events"
)

// clock is a settable clock shared by the simulator and the Be-Mo source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// start brings up NATS, ClickHouse and the simulators with records Be-Mo sessions. The
// simulator generates its data at t0, then the clock moves two days on, so every session has
// been "created" (none is still to arrive late) and the ground truth is exactly records.
func start(t *testing.T, records int, faults sim.Faults) (*devstack.Stack, *clock) {
	t.Helper()
	return startTraced(t, records, faults, nil)
}

// startTraced is start with the stack traced by tp (nil: off).
func startTraced(t *testing.T, records int, faults sim.Faults, tp trace.TracerProvider) (*devstack.Stack, *clock) {
	t.Helper()
	t0 := time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC)
	clk := &clock{t: t0}
	p := bemo.Provider{Now: clk.Now, Backoff: poll.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, MaxRetryAfter: 50 * time.Millisecond}}
	s, err := devstack.Start(t.Context(), devstack.Config{
		Dir: t.TempDir(), NATSPort: -1, SimAddr: "127.0.0.1:0", Seed: 7, Records: records,
		PollInterval: 200 * time.Millisecond, Faults: faults, Fresh: true,
		Providers: []providers.Provider{p}, Now: clk.Now, Tracing: tp,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	clk.Set(t0.Add(48 * time.Hour))
	return s, clk
}

func runAll(t *testing.T, s *devstack.Stack) {
	t.Helper()
	if err := s.RunSink(t.Context(), sink.Config{BatchAge: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := s.RunNormalizer(t.Context(), normalize.Config{RetryDelay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := s.RunPollers(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func waitDone(t *testing.T, s *devstack.Stack, d time.Duration) devstack.Counts {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		c, err := s.Counts(t.Context())
		if err == nil && c.Done() {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline not done within %s: %s (last error %v)", d, c.Progress(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkExactlyOnce compares ClickHouse with the simulator's ground truth: one row per session
// (FINAL), and money per currency equal to the cent.
func checkExactlyOnce(t *testing.T, s *devstack.Stack, wantDLQ uint64) {
	t.Helper()
	truth := s.Sim.Truth()["bemo"]
	c := waitDone(t, s, 3*time.Minute)
	if got := c.Rows["charging_sessions"]; got != uint64(truth.Records) {
		t.Errorf("charging_sessions FINAL = %d rows, simulator holds %d sessions", got, truth.Records)
	}
	if c.DLQ != wantDLQ {
		t.Errorf("DLQ holds %d messages, want %d", c.DLQ, wantDLQ)
	}
	rows, err := s.Sink.Conn().Query(t.Context(), `
		SELECT currency, toString(sum(total_amount)) FROM chargeline.charging_sessions FINAL GROUP BY currency`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var cur, sum string
		if err := rows.Scan(&cur, &sum); err != nil {
			t.Fatal(err)
		}
		got[cur] = sum
	}
	for cur, want := range truth.Totals {
		if d, err := events.AddDecimals(got[cur], "-"+want); err != nil || strings.Trim(d, "0.-") != "" {
			t.Errorf("%s total in ClickHouse = %s, simulator's own total = %s", cur, got[cur], want)
		}
	}
	if len(got) != len(truth.Totals) {
		t.Errorf("currencies in ClickHouse %v, simulator %v", got, truth.Totals)
	}
}

func TestFullChainBeMo(t *testing.T) {
	s, _ := start(t, 5000, sim.Faults{})
	runAll(t, s)
	checkExactlyOnce(t, s, 0)
	if truth := s.Sim.Truth()["bemo"]; truth.Records != 5000 {
		t.Fatalf("simulator holds %d sessions, want 5000", truth.Records)
	}

	// Every event on EVENTS is valid against the published JSON Schema.
	schema, err := eventschema.Validator(events.TypeChargingSession)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	forEach(t, s.JS, bus.StreamEvents, func(m jetstream.Msg) {
		n++
		if err := eventschema.Validate(schema, m.Data()); err != nil {
			t.Fatalf("event %s invalid: %v", m.Headers().Get(events.HeaderID), err)
		}
		if tp := m.Headers().Get(tracing.HeaderTraceParent); tp != "" {
			t.Fatalf("event %s carries ce-traceparent %q with tracing off", m.Headers().Get(events.HeaderID), tp)
		}
	})
	if n != 5000 {
		t.Errorf("EVENTS holds %d events, want 5000", n)
	}
}

func TestPollerRestartMissesNothingAndSkipsCompletedWindows(t *testing.T) {
	s, _ := start(t, 4000, sim.Faults{})
	if err := s.RunSink(t.Context(), sink.Config{BatchAge: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := s.RunNormalizer(t.Context(), normalize.Config{}); err != nil {
		t.Fatal(err)
	}
	// First poller: stopped while it is still publishing.
	sched, err := s.Scheduler(t.Context(), s.Providers()[0], poll.Config{Interval: time.Hour, CommitEvery: 50})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = sched.Run(ctx) }()
	waitFor(t, time.Minute, func() bool { c, _ := s.Counts(t.Context()); return c.Raw >= 1000 })
	cancel()
	<-done
	before := s.Sim.Truth()["bemo"].Requests
	closedBefore := closedDays(t, s)
	if len(closedBefore) == 0 {
		t.Fatal("no day window was completed before the stop: the test cannot check re-fetching")
	}

	// Second poller, a fresh replica: continues from the checkpoints.
	sched2, err := s.Scheduler(t.Context(), s.Providers()[0], poll.Config{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := sched2.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, s, 0)
	after := s.Sim.Truth()["bemo"].Requests
	for key, n := range after {
		account, window, _ := strings.Cut(key, " ")
		day, _, _ := strings.Cut(window, "..")
		if next, ok := closedBefore[account]; ok && day < next && n != before[key] {
			t.Errorf("completed window %q was fetched again: %d requests before the restart, %d after", key, before[key], n)
		}
	}
}

// closedDays returns, per account, the first day not yet completed according to its checkpoint.
func closedDays(t *testing.T, s *devstack.Stack) map[string]string {
	t.Helper()
	kv, err := s.JS.KeyValue(t.Context(), bus.BucketCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	cps := poll.NewCheckpoints(kv)
	out := map[string]string{}
	for _, acc := range bemo.SimAccounts() {
		cp, _, err := cps.Get(t.Context(), "bemo", acc)
		if err != nil {
			t.Fatal(err)
		}
		if cp == "" {
			continue
		}
		day, err := bemo.ParseCheckpoint(cp)
		if err != nil {
			t.Fatal(err)
		}
		out[acc] = day.Format(time.DateOnly)
	}
	return out
}

func TestFaultsAreRetriedAndPoisonGoesToTheDLQ(t *testing.T) {
	s, _ := start(t, 3000, sim.Faults{TooManyRequestsEvery: 7, ServerErrorEvery: 5})
	// A poison record published before anything else: broken JSON on the Be-Mo subject.
	poison := events.Raw{ID: events.RawID("bemo", "sessions", "poison", []byte(`{"sessionId":`)), Provider: "bemo",
		Resource: "sessions", Scope: "acc-1", RecordID: "poison", FetchedAt: time.Now(), Data: []byte(`{"sessionId":`)}
	if _, err := s.JS.PublishMsg(t.Context(), events.RawMsg(poison)); err != nil {
		t.Fatal(err)
	}
	runAll(t, s)
	checkExactlyOnce(t, s, 1)

	var dlq jetstream.Msg
	forEach(t, s.JS, bus.StreamDLQ, func(m jetstream.Msg) { dlq = m })
	if dlq.Subject() != "dlq.normalize.bemo" {
		t.Errorf("poison record dead-lettered on %q, want dlq.normalize.bemo", dlq.Subject())
	}
	if reason := dlq.Headers().Get("chargeline-error"); !strings.Contains(reason, "cannot be mapped") {
		t.Errorf("dead letter's reason %q does not say the record cannot be mapped", reason)
	}
	t.Logf("dead letter reason: %s", dlq.Headers().Get("chargeline-error"))
	if string(dlq.Data()) != `{"sessionId":` || dlq.Headers().Get("chargeline-original-subject") != "raw.bemo.sessions" {
		t.Errorf("dead letter lost the original body or subject: %q %v", dlq.Data(), dlq.Headers())
	}
}

func TestExpiredTokenIsAClearError(t *testing.T) {
	s, _ := start(t, 100, sim.Faults{ExpiredToken: true})
	sched, err := s.Scheduler(t.Context(), s.Providers()[0], poll.Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = sched.RunOnce(t.Context())
	if !errors.Is(err, poll.ErrAuth) {
		t.Fatalf("RunOnce with an expired token: got %v, want an error wrapping poll.ErrAuth", err)
	}
	for _, want := range []string{"TokenExpired", "acc-1", "BEMO_ACCESS_TOKEN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), bemo.SimAccessToken) {
		t.Errorf("error %q reveals the token", err)
	}
}

func TestClickHouseRestartLosesNothing(t *testing.T) {
	s, _ := start(t, 4000, sim.Faults{})
	runAll(t, s)
	waitFor(t, time.Minute, func() bool { c, err := s.Counts(t.Context()); return err == nil && c.Rows["charging_sessions"] > 0 })
	if err := s.ClickHouse.Stop(); err != nil {
		t.Fatal(err)
	}
	// While ClickHouse is down the pollers and the normalizer keep going; nothing is acked by
	// the sink.
	waitFor(t, time.Minute, func() bool { return streamMsgs(t, s.JS, bus.StreamEvents) >= 4000 })
	if err := s.ClickHouse.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, s, 0)
}

// sourceIDs returns the sorted source_id of a provider's rows in table (a table name, with
// FINAL or a _current view as the test needs).
func sourceIDs(t *testing.T, s *devstack.Stack, table, provider string) []string {
	t.Helper()
	rows, err := s.Sink.Conn().Query(t.Context(),
		"SELECT source_id FROM chargeline."+table+" WHERE provider = ? ORDER BY source_id", provider)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// checkRawRecords fails t unless raw_records holds want records of provider, each once.
func checkRawRecords(t *testing.T, s *devstack.Stack, provider string, want int) {
	t.Helper()
	var raw uint64
	if err := s.Sink.Conn().QueryRow(t.Context(),
		"SELECT count() FROM chargeline.raw_records FINAL WHERE provider = ?", provider).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != uint64(want) {
		t.Errorf("raw_records holds %d %s records, want %d", raw, provider, want)
	}
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	st, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// forEach reads every message of a stream with an ordered consumer.
func forEach(t *testing.T, js jetstream.JetStream, stream string, fn func(jetstream.Msg)) {
	t.Helper()
	total := streamMsgs(t, js, stream)
	if total == 0 {
		return
	}
	c, err := js.OrderedConsumer(t.Context(), stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for seen := uint64(0); seen < total; {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			fn(m)
			n++
		}
		if n == 0 {
			t.Fatalf("stream %s: read %d of %d messages", stream, seen, total)
		}
		seen += uint64(n)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
