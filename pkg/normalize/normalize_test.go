package normalize_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/providers"
	eventschema "github.com/chargeline/chargeline/schemas/events"
)

// fakeProvider maps records like {"id": "s1", "amount": "1.50", "fail": 2} to one
// charging_session.v1 event. "fail": n fails the first n attempts with an error worth retrying,
// "fail": -1 fails every attempt, "panic": true panics, broken JSON is unmappable.
type fakeProvider struct {
	providers.Provider // nil: the normalizer uses Name and Map only
	name               string
	log                *callLog
	// entered receives the id of a "block": true record once Map has it; Map then waits for gate.
	entered chan string
	gate    chan struct{}
}

type fakeRecord struct {
	ID     string `json:"id"`
	Amount string `json:"amount"`
	Fail   int    `json:"fail"`
	Panic  bool   `json:"panic"`
	Block  bool   `json:"block"`
	// Unchecked builds the event without events.NewEvent, as a careless mapping could.
	Unchecked bool `json:"unchecked"`
}

// callLog records every Map call per record id; instances of one test may share it.
type callLog struct {
	mu    sync.Mutex
	calls map[string][]time.Time
	by    map[string]int // calls per provider instance label
}

func newCallLog() *callLog { return &callLog{calls: map[string][]time.Time{}, by: map[string]int{}} }

func (l *callLog) add(id, by string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[id] = append(l.calls[id], time.Now())
	l.by[by]++
	return len(l.calls[id])
}

func (l *callLog) times(id string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.calls[id]...)
}

func (l *callLog) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for id, c := range l.calls {
		out[id] = len(c)
	}
	return out
}

var errBusy = errors.New("fake: upstream busy")

func (p fakeProvider) Name() string { return "fake" }

func (p fakeProvider) Map(raw events.Raw) ([]events.Event, error) {
	var r fakeRecord
	if err := json.Unmarshal(raw.Data, &r); err != nil {
		return nil, fmt.Errorf("fake: %w: %w", events.ErrUnmappable, err)
	}
	n := p.log.add(r.ID, p.name)
	if r.Panic {
		panic("fake: mapping exploded")
	}
	if r.Block {
		p.entered <- r.ID
		<-p.gate
	}
	if r.Fail < 0 || n <= r.Fail {
		return nil, errBusy
	}
	e, err := fakeEvent(raw, r)
	if err != nil {
		return nil, fmt.Errorf("fake: %w", err)
	}
	return []events.Event{e}, nil
}

var eventTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeEvent is what the fake maps r to: deterministic, so tests can rebuild the expected event.
func fakeEvent(raw events.Raw, r fakeRecord) (events.Event, error) {
	cs := events.ChargingSession{
		SchemaVersion: events.SchemaVersion, ID: "fake:" + r.ID, Provider: "fake", SourceID: r.ID,
		Account: raw.Scope, Status: "COMPLETED", StartedAt: eventTime.Format(time.RFC3339),
		LineItems:   []events.LineItem{{Product: events.Product{Code: "kwh"}, Amount: r.Amount, Currency: "EUR"}},
		TotalAmount: r.Amount, Currency: "EUR",
		Lineage: events.Lineage{RawID: raw.ID, RawStream: bus.StreamRaw, RawSequence: raw.Sequence, RawSubject: raw.Subject()},
	}
	if !r.Unchecked {
		return events.NewEvent(raw, cs, eventTime)
	}
	data, err := json.Marshal(cs)
	if err != nil {
		return events.Event{}, err
	}
	return events.Event{
		ID:   events.EventID("fake", events.TypeChargingSession, r.ID, raw.ID),
		Type: events.TypeChargingSession, Provider: "fake", Source: raw.Source(), Subject: "fake:" + r.ID,
		Time: eventTime, Data: data,
	}, nil
}

func rawRecord(body string) events.Raw {
	var r fakeRecord
	_ = json.Unmarshal([]byte(body), &r)
	return events.Raw{
		ID: events.RawID("fake", "sessions", r.ID, []byte(body)), Provider: "fake", Resource: "sessions",
		Scope: "acc-1", RecordID: r.ID, FetchedAt: eventTime, Data: []byte(body),
	}
}

// publishRaw stores r on RAW the way the poller does and returns its stream sequence.
func publishRaw(t *testing.T, js jetstream.JetStream, r events.Raw) uint64 {
	t.Helper()
	ack, err := js.PublishMsg(t.Context(), events.RawMsg(r))
	if err != nil {
		t.Fatalf("publish raw %s: %v", r.RecordID, err)
	}
	return ack.Sequence
}

// instance runs one normalizer on its own NATS connection until the test ends; Run must then
// return nil.
func instance(t *testing.T, srv *natstest.Server, cfg normalize.Config, p providers.Provider) *prometheus.Registry {
	t.Helper()
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := normalize.New(cfg, js, []providers.Provider{p}, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(time.Minute):
			t.Error("Run did not return within a minute of cancel")
		}
		nc.Close()
	})
	return reg
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// drained reports whether the provider's consumer has delivered and settled every record.
func drained(t *testing.T, js jetstream.JetStream, provider string) bool {
	c, err := js.Consumer(t.Context(), bus.StreamRaw, normalize.ConsumerName(provider))
	if err != nil {
		return false
	}
	info := c.CachedInfo()
	// The server counts a new message as pending a moment after its PubAck: without the ack
	// floor, a consumer could look drained before it has seen the last record. Every test
	// publishes only the provider's subjects, so the floor reaches RAW's last sequence.
	st, err := js.Stream(t.Context(), bus.StreamRaw)
	if err != nil {
		return false
	}
	return info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= st.CachedInfo().State.LastSeq
}

// messages returns the messages of stream whose subject is subject, oldest first.
func messages(t *testing.T, js jetstream.JetStream, stream, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject == subject {
			out = append(out, m)
		}
	}
	return out
}

func count(t *testing.T, js jetstream.JetStream, stream, subject string) func() int {
	return func() int { return len(messages(t, js, stream, subject)) }
}

const eventSubject = "events.charging_session.v1.fake"

func TestRawRecordsBecomeEvents(t *testing.T) {
	srv := natstest.Start(t)
	reg := instance(t, srv, normalize.Config{}, fakeProvider{name: "a", log: newCallLog()})

	bodies := []string{`{"id":"s1","amount":"12.50"}`, `{"id":"s2","amount":"0.99"}`, `{"id":"s3","amount":"-3"}`}
	want := map[string]events.Event{}
	for i, b := range bodies {
		r := rawRecord(b)
		if i == 2 {
			r.Resource = "corrections" // another resource of the provider: raw.fake.corrections
			r.ID = events.RawID("fake", r.Resource, r.RecordID, r.Data)
		}
		r.Sequence = publishRaw(t, srv.JS, r)
		var fr fakeRecord
		_ = json.Unmarshal(r.Data, &fr)
		e, err := fakeEvent(r, fr)
		if err != nil {
			t.Fatal(err)
		}
		want[e.ID] = e
	}
	waitFor(t, "3 events", func() bool { return count(t, srv.JS, bus.StreamEvents, eventSubject)() == 3 })
	waitFor(t, "consumer drained", func() bool { return drained(t, srv.JS, "fake") })

	schema, err := eventschema.Validator(events.TypeChargingSession)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range messages(t, srv.JS, bus.StreamEvents, eventSubject) {
		id := m.Header.Get(events.HeaderID)
		e, ok := want[id]
		if !ok {
			t.Errorf("unexpected event with ce-id %q", id)
			continue
		}
		// Exactly events.EventMsg's headers, spelled exactly so (lower-case ce-*, Nats-Msg-Id = ce-id).
		wantMsg := events.EventMsg(e)
		if !maps.EqualFunc(m.Header, wantMsg.Header, func(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }) {
			t.Errorf("event %s headers:\n got %v\nwant %v", id, m.Header, wantMsg.Header)
		}
		if m.Header.Get(nats.MsgIdHdr) != id {
			t.Errorf("event %s: Nats-Msg-Id %q, want the ce-id", id, m.Header.Get(nats.MsgIdHdr))
		}
		if string(m.Data) != string(e.Data) {
			t.Errorf("event %s body:\n got %s\nwant %s", id, m.Data, e.Data)
		}
		if err := eventschema.Validate(schema, m.Data); err != nil {
			t.Errorf("event %s does not validate: %v", id, err)
		}
		var cs events.ChargingSession
		if err := json.Unmarshal(m.Data, &cs); err != nil || cs.Lineage.RawSequence == 0 {
			t.Errorf("event %s: lineage has no raw sequence (%v)", id, err)
		}
	}
	if got := testutil.ToFloat64(processed(t, reg)); got != 3 {
		t.Errorf("records_processed_total = %v, want 3", got)
	}
}

func processed(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	return metricByName(t, reg, "chargeline_normalizer_records_processed_total")
}

// metricByName returns a collector reporting the one sample of name (label provider="fake").
func metricByName(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Error(err)
			return
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "", nil, nil), prometheus.UntypedValue, m.GetCounter().GetValue())
			}
		}
	})
}

func TestSameRawTwiceYieldsOneEvent(t *testing.T) {
	srv := natstest.Start(t)
	log := newCallLog()
	instance(t, srv, normalize.Config{}, fakeProvider{name: "a", log: log})

	r := rawRecord(`{"id":"dup","amount":"7.00"}`)
	publishRaw(t, srv.JS, r)
	publishRaw(t, srv.JS, r) // a re-poll inside RAW's duplicate window: RAW drops it
	// The same record again after RAW's window (a new Nats-Msg-Id gets it past RAW): it is
	// mapped a second time, and EVENTS drops the identical event by its Nats-Msg-Id.
	again := events.RawMsg(r)
	again.Header.Set(nats.MsgIdHdr, r.ID+"-after-window")
	if _, err := srv.JS.PublishMsg(t.Context(), again); err != nil {
		t.Fatal(err)
	}
	if got := count(t, srv.JS, bus.StreamRaw, r.Subject())(); got != 2 {
		t.Fatalf("RAW holds %d copies of the record, want 2", got)
	}
	waitFor(t, "both raw copies mapped", func() bool { return log.snapshot()["dup"] == 2 })
	waitFor(t, "consumer drained", func() bool { return drained(t, srv.JS, "fake") })
	if got := count(t, srv.JS, bus.StreamEvents, eventSubject)(); got != 1 {
		t.Fatalf("EVENTS holds %d events for one record, want 1", got)
	}
}

func TestPoisonRecordsGoToDLQ(t *testing.T) {
	srv := natstest.Start(t)
	log := newCallLog()
	reg := instance(t, srv, normalize.Config{}, fakeProvider{name: "a", log: log})

	broken := rawRecord(`{"id":"broken","amount":`) // not JSON: Map says ErrUnmappable
	broken.RecordID = "broken"
	broken.ID = events.RawID("fake", "sessions", "broken", broken.Data)
	panics := rawRecord(`{"id":"boom","amount":"1","panic":true}`)
	invalid := rawRecord(`{"id":"float","amount":"1,50"}`) // maps to an event its schema refuses
	seq := map[string]uint64{}
	for _, r := range []events.Raw{broken, panics, invalid} {
		seq[r.ID] = publishRaw(t, srv.JS, r)
	}
	for i := range 5 {
		publishRaw(t, srv.JS, rawRecord(fmt.Sprintf(`{"id":"good-%d","amount":"1.00"}`, i)))
	}

	waitFor(t, "3 dead letters", func() bool { return count(t, srv.JS, bus.StreamDLQ, "dlq.normalize.fake")() == 3 })
	waitFor(t, "5 good events", func() bool { return count(t, srv.JS, bus.StreamEvents, eventSubject)() == 5 })
	waitFor(t, "consumer drained", func() bool { return drained(t, srv.JS, "fake") })

	wantReason := map[string]string{
		broken.ID:  "record cannot be mapped",
		panics.ID:  "panic: fake: mapping exploded",
		invalid.ID: "charging_session.v1 breaks its schema: line_items[0].amount: \"1,50\" is not a decimal string",
	}
	for _, m := range messages(t, srv.JS, bus.StreamDLQ, "dlq.normalize.fake") {
		id := m.Header.Get(events.HeaderID)
		orig := map[string]events.Raw{broken.ID: broken, panics.ID: panics, invalid.ID: invalid}[id]
		if orig.ID == "" {
			t.Errorf("unexpected dead letter %q", id)
			continue
		}
		// The original headers and body, unchanged …
		for k, v := range events.RawMsg(orig).Header {
			if k == nats.MsgIdHdr {
				continue
			}
			if got := m.Header.Values(k); strings.Join(got, ",") != strings.Join(v, ",") {
				t.Errorf("dead letter %s: header %s = %q, want the original %q", id, k, got, v)
			}
		}
		if string(m.Data) != string(orig.Data) {
			t.Errorf("dead letter %s: body %q, want the original %q", id, m.Data, orig.Data)
		}
		// … plus the reason and where it came from.
		want := map[string]string{
			bus.HeaderStage:            "normalize",
			bus.HeaderOriginalSubject:  "raw.fake.sessions",
			bus.HeaderOriginalSequence: strconv.FormatUint(seq[id], 10),
			bus.HeaderAttempts:         "1",
			nats.MsgIdHdr:              "dlq-normalize-" + strconv.FormatUint(seq[id], 10) + "-" + id,
		}
		for k, v := range want {
			if got := m.Header.Get(k); got != v {
				t.Errorf("dead letter %s: %s = %q, want %q", id, k, got, v)
			}
		}
		if reason := m.Header.Get(bus.HeaderError); !strings.Contains(reason, wantReason[id]) || strings.ContainsAny(reason, "\r\n") {
			t.Errorf("dead letter %s: chargeline-error %q, want one line containing %q", id, reason, wantReason[id])
		}
	}
	if calls := log.snapshot(); calls["boom"] != 1 || calls["float"] != 1 {
		t.Errorf("poison records were retried: %v", calls)
	}
	if got := testutil.ToFloat64(metricByName(t, reg, "chargeline_normalizer_dlq_total")); got != 3 {
		t.Errorf("dlq_total = %v, want 3", got)
	}
}

// TestSchemaValidationRefusesWhatBypassesTheCheck: with SchemaValidation, an event a mapping built
// without events.NewEvent is validated against the schema document, and dead-lettered when it
// breaks it.
func TestSchemaValidationRefusesWhatBypassesTheCheck(t *testing.T) {
	srv := natstest.Start(t)
	instance(t, srv, normalize.Config{SchemaValidation: true}, fakeProvider{name: "a", log: newCallLog()})
	publishRaw(t, srv.JS, rawRecord(`{"id":"bad","amount":"1,50","unchecked":true}`))
	publishRaw(t, srv.JS, rawRecord(`{"id":"good","amount":"1.50","unchecked":true}`))
	waitFor(t, "1 dead letter", func() bool { return count(t, srv.JS, bus.StreamDLQ, "dlq.normalize.fake")() == 1 })
	waitFor(t, "1 event", func() bool { return count(t, srv.JS, bus.StreamEvents, eventSubject)() == 1 })
	waitFor(t, "consumer drained", func() bool { return drained(t, srv.JS, "fake") })
	m := messages(t, srv.JS, bus.StreamDLQ, "dlq.normalize.fake")[0]
	if reason := m.Header.Get(bus.HeaderError); !strings.Contains(reason, "does not match pattern") {
		t.Errorf("chargeline-error %q, want the schema validator's verdict", reason)
	}
}

func TestTransientFailureIsRedeliveredWithDelay(t *testing.T) {
	srv := natstest.Start(t)
	log := newCallLog()
	const delay = 200 * time.Millisecond
	instance(t, srv, normalize.Config{RetryDelay: delay, MaxDeliver: 5}, fakeProvider{name: "a", log: log})

	publishRaw(t, srv.JS, rawRecord(`{"id":"flaky","amount":"2.00","fail":2}`))
	waitFor(t, "the event", func() bool { return count(t, srv.JS, bus.StreamEvents, eventSubject)() == 1 })
	waitFor(t, "consumer drained", func() bool { return drained(t, srv.JS, "fake") })

	calls := log.times("flaky")
	if len(calls) != 3 {
		t.Fatalf("Map called %d times, want 3 (two failures, one success)", len(calls))
	}
	// JetStream holds a Nacked record back for the backoff delay: 1×, then 2× RetryDelay.
	for i, min := range []time.Duration{delay, 2 * delay} {
		if gap := calls[i+1].Sub(calls[i]); gap < min {
			t.Errorf("attempt %d came %v after attempt %d, want ≥ %v (delayed redelivery)", i+2, gap, i+1, min)
		}
	}
	if n := count(t, srv.JS, bus.StreamDLQ, "dlq.normalize.fake")(); n != 0 {
		t.Errorf("%d dead letters for a record that succeeded", n)
	}
}

func TestRecordOutOfDeliveriesGoesToDLQ(t *testing.T) {
	srv := natstest.Start(t)
	log := newCallLog()
	instance(t, srv, normalize.Config{RetryDelay: 10 * time.Millisecond, MaxDeliver: 3}, fakeProvider{name: "a", log: log})

	r := rawRecord(`{"id":"down","amount":"2.00","fail":-1}`)
	publishRaw(t, srv.JS, r)
	publishRaw(t, srv.JS, rawRecord(`{"id":"fine","amount":"2.00"}`))
	waitFor(t, "the dead letter", func() bool { return count(t, srv.JS, bus.StreamDLQ, "dlq.normalize.fake")() == 1 })
	waitFor(t, "consumer drained", func() bool { return drained(t, srv.JS, "fake") })

	m := messages(t, srv.JS, bus.StreamDLQ, "dlq.normalize.fake")[0]
	if got := m.Header.Get(bus.HeaderError); !strings.HasPrefix(got, bus.ReasonMaxDeliveries) || !strings.Contains(got, errBusy.Error()) {
		t.Errorf("chargeline-error = %q, want %q with the last error", got, bus.ReasonMaxDeliveries)
	}
	if got := m.Header.Get(bus.HeaderAttempts); got != "3" {
		t.Errorf("chargeline-attempts = %q, want 3", got)
	}
	if got := len(log.times("down")); got != 3 {
		t.Errorf("Map called %d times, want MaxDeliver = 3", got)
	}
	if got := count(t, srv.JS, bus.StreamEvents, eventSubject)(); got != 1 {
		t.Errorf("%d events, want 1 (the good record)", got)
	}
}

// TestFullEventsStreamIsWaitedOutNotDeadLettered: while EVENTS refuses new messages (its byte
// limit reached), every record fails again and again — more often than MaxDeliver — yet nothing
// is wrong with the records: none may be dead-lettered, and each must reach EVENTS once the
// limit is lifted. (The chaos run's "full" scenario found them in the DLQ as "max deliveries
// exceeded".)
func TestFullEventsStreamIsWaitedOutNotDeadLettered(t *testing.T) {
	srv := natstest.Start(t)
	log := newCallLog()
	ctx := t.Context()
	st, err := srv.JS.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full := info.Config
	full.MaxBytes = 1
	if _, err := srv.JS.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	instance(t, srv, normalize.Config{MaxDeliver: 2, RetryDelay: 5 * time.Millisecond, RetryMaxDelay: 20 * time.Millisecond},
		fakeProvider{name: "a", log: log})
	const n = 5
	for i := range n {
		publishRaw(t, srv.JS, rawRecord(fmt.Sprintf(`{"id":"r%d","amount":"1.00"}`, i)))
	}
	waitFor(t, "every record tried more often than MaxDeliver", func() bool {
		for i := range n {
			if len(log.times(fmt.Sprintf("r%d", i))) < 4 {
				return false
			}
		}
		return true
	})
	if _, err := srv.JS.UpdateStream(ctx, info.Config); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the events", func() bool { return count(t, srv.JS, bus.StreamEvents, eventSubject)() == n })
	waitFor(t, "consumer drained", func() bool { return drained(t, srv.JS, "fake") })
	if got := count(t, srv.JS, bus.StreamDLQ, "dlq.normalize.fake")(); got != 0 {
		t.Errorf("%d records dead-lettered because EVENTS was full, want 0", got)
	}
}

func TestReplicasShareTheConsumer(t *testing.T) {
	srv := natstest.Start(t)
	log := newCallLog()
	cfg := normalize.Config{Concurrency: 4}
	instance(t, srv, cfg, fakeProvider{name: "a", log: log})
	instance(t, srv, cfg, fakeProvider{name: "b", log: log})

	const n = 300
	for i := range n {
		publishRaw(t, srv.JS, rawRecord(fmt.Sprintf(`{"id":"r%03d","amount":"%d.00"}`, i, i)))
	}
	waitFor(t, "all events", func() bool { return count(t, srv.JS, bus.StreamEvents, eventSubject)() == n })
	waitFor(t, "consumer drained", func() bool { return drained(t, srv.JS, "fake") })

	calls := log.snapshot()
	if len(calls) != n {
		t.Errorf("%d records mapped, want %d", len(calls), n)
	}
	for id, c := range calls {
		if c != 1 {
			t.Errorf("record %s mapped %d times, want once", id, c)
		}
	}
	if got := count(t, srv.JS, bus.StreamEvents, eventSubject)(); got != n {
		t.Errorf("%d events, want %d", got, n)
	}
	log.mu.Lock()
	t.Logf("records per instance: %v", log.by)
	log.mu.Unlock()
}

func TestRunFinishesInFlightRecordsOnCancel(t *testing.T) {
	srv := natstest.Start(t)
	p := fakeProvider{name: "a", log: newCallLog(), entered: make(chan string, 1), gate: make(chan struct{})}
	n, err := normalize.New(normalize.Config{}, srv.JS, []providers.Provider{p}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()

	publishRaw(t, srv.JS, rawRecord(`{"id":"slow","amount":"1.00","block":true}`))
	select {
	case <-p.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the record never reached Map")
	}
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while a record was still being mapped", err)
	default:
	}
	close(p.gate)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after the in-flight record finished")
	}
	// Once Run has returned, the record's event is stored and the record acknowledged.
	if got := count(t, srv.JS, bus.StreamEvents, eventSubject)(); got != 1 {
		t.Errorf("%d events after shutdown, want 1", got)
	}
	if !drained(t, srv.JS, "fake") {
		t.Error("the in-flight record was not acknowledged before Run returned")
	}
}
