package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
	"github.com/chargeline/chargeline/pkg/sink/clickhousetest"
)

// waitFor polls cond until it holds, failing the test after a deadline. The short pause
// between polls is the only waiting in these tests; nothing sleeps to synchronise.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
		}
		<-tick.C
	}
}

// env is one test's NATS and ClickHouse.
type env struct {
	ns *natstest.Server
	ch *clickhousetest.Server
}

func newEnv(t *testing.T) env {
	t.Helper()
	t.Parallel()
	return env{ns: natstest.Start(t), ch: clickhousetest.Start(t)}
}

// testConfig batches small and fast so several batches form in a test.
func (e env) config() Config {
	return Config{DSN: e.ch.DSN(), BatchRows: 7, BatchAge: 50 * time.Millisecond, AckWait: 30 * time.Second,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond}
}

// newSink builds a migrated sink with its own metrics registry.
func (e env) newSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg, e.ns.JS, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// run starts s.Run; stop cancels it and returns what Run returned.
func run(t *testing.T, s *Sink) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// runErr is run for a sink expected to end by itself; it returns Run's result channel.
func runErr(t *testing.T, s *Sink) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(cancel)
	return done
}

func session(provider, sourceID string, rawSeq uint64, mutate func(*events.ChargingSession)) events.Event {
	cs := events.ChargingSession{
		SchemaVersion: events.SchemaVersion,
		ID:            provider + ":" + sourceID, Provider: provider, SourceID: sourceID,
		Account: "acct-1", Status: "completed",
		StartedAt: "2024-03-01T10:00:00Z", EndedAt: "2024-03-01T11:00:00Z",
		Location: &events.Location{ID: "loc-1", Name: "Depot", City: "Utrecht", CountryCode: "NL"},
		Token:    &events.Token{Type: "rfid", Value: "04AB"},
		Quantity: "12.5", Unit: "kWh", EnergyKWh: "12.5",
		Product: &events.Product{Category: "energy", Family: "ac", Code: "AC22"},
		LineItems: []events.LineItem{
			{Product: events.Product{Category: "energy"}, Quantity: "12.5", Unit: "kWh", UnitPrice: "0.38615", Amount: "4.8269", Currency: "EUR", Time: "2024-03-01T11:00:00Z"},
			{Product: events.Product{Category: "fee"}, Amount: "0.35", Currency: "EUR"},
		},
		TotalAmount: "5.1769", Currency: "EUR",
		Lineage: events.Lineage{RawID: "raw-" + sourceID, RawStream: bus.StreamRaw, RawSequence: rawSeq, RawSubject: "raw." + provider + ".sessions"},
	}
	if mutate != nil {
		mutate(&cs)
	}
	data, err := json.Marshal(cs)
	if err != nil {
		panic(err)
	}
	return events.Event{
		ID:   events.EventID(provider, events.TypeChargingSession, sourceID, strconv.FormatUint(rawSeq, 10)),
		Type: events.TypeChargingSession, Provider: provider,
		Source: "/providers/" + provider + "/acct-1", Subject: cs.ID,
		Time: time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC), Data: data,
	}
}

func publish(t *testing.T, js jetstream.JetStream, msgs ...*nats.Msg) []uint64 {
	t.Helper()
	seqs := make([]uint64, len(msgs))
	for i, m := range msgs {
		ack, err := js.PublishMsg(t.Context(), m)
		if err != nil {
			t.Fatalf("publish %s: %v", m.Subject, err)
		}
		seqs[i] = ack.Sequence
	}
	return seqs
}

func sessions(provider string, from, n int) []*nats.Msg {
	var out []*nats.Msg
	for i := from; i < from+n; i++ {
		out = append(out, events.EventMsg(session(provider, fmt.Sprintf("s%03d", i), uint64(100+i), nil)))
	}
	return out
}

func consumerInfo(t *testing.T, js jetstream.JetStream, stream, name string) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(t.Context(), stream, name)
	if err != nil {
		return nil, err
	}
	return c.Info(t.Context())
}

// allAcked waits until the consumer has delivered everything and holds no unacknowledged message.
func allAcked(t *testing.T, js jetstream.JetStream, stream, name string) {
	t.Helper()
	waitFor(t, stream+" consumer "+name+" to acknowledge everything", func() (bool, error) {
		ci, err := consumerInfo(t, js, stream, name)
		if err != nil {
			return false, err
		}
		return ci.NumPending == 0 && ci.NumAckPending == 0, fmt.Errorf("pending %d, ack pending %d", ci.NumPending, ci.NumAckPending)
	})
}

func rowsEqual(t *testing.T, ch *clickhousetest.Server, query string, want uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s = %d", query, want), func() (bool, error) {
		n, err := ch.TryQueryUint64(t.Context(), query)
		return err == nil && n == want, fmt.Errorf("got %d, err %v", n, err)
	})
}

func TestSinkWritesEventsAndRawRecords(t *testing.T) {
	e := newEnv(t)
	s := e.newSink(t, e.config())
	stop := run(t, s)

	publish(t, e.ns.JS, sessions("bemo", 0, 20)...)
	// The same event twice past JetStream's duplicate window (no Nats-Msg-Id): two messages,
	// one row FINAL.
	dup := events.EventMsg(session("bemo", "s000", 100, nil))
	dup.Header.Del(nats.MsgIdHdr)
	publish(t, e.ns.JS, dup)
	// A later version of s001 (fetched again: higher raw sequence) replaces it.
	publish(t, e.ns.JS, events.EventMsg(session("bemo", "s001", 500, func(cs *events.ChargingSession) {
		cs.TotalAmount, cs.Status = "9.9900", "invoiced"
	})))
	// An older version of s002 (a replay of an old raw message) does not.
	publish(t, e.ns.JS, events.EventMsg(session("bemo", "s002", 1, func(cs *events.ChargingSession) { cs.Status = "stale" })))

	var raws []*nats.Msg
	for i := range 5 {
		payload := []byte(fmt.Sprintf(`{"id":"tx-%d","amount":"1.50"}`, i))
		raws = append(raws, events.RawMsg(events.Raw{
			ID: events.RawID("bemo", "sessions", fmt.Sprint("tx-", i), payload), Provider: "bemo", Resource: "sessions",
			Scope: "acct-1", RecordID: fmt.Sprint("tx-", i), FetchedAt: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), Data: payload,
		}))
	}
	rawSeqs := publish(t, e.ns.JS, raws...)

	rowsEqual(t, e.ch, "SELECT count() FROM chargeline.charging_sessions FINAL", 20)
	rowsEqual(t, e.ch, "SELECT count() FROM chargeline.raw_records FINAL", 5)
	allAcked(t, e.ns.JS, bus.StreamEvents, "sink-events")
	allAcked(t, e.ns.JS, bus.StreamRaw, "sink-raw")
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}

	q := func(query string) []string { return e.ch.QueryStrings(t, query) }
	if got := q("SELECT status FROM chargeline.charging_sessions_current WHERE id IN ('bemo:s001', 'bemo:s002') ORDER BY id"); fmt.Sprint(got) != "[invoiced completed]" {
		t.Errorf("statuses of s001, s002 = %v, want the newest versions [invoiced completed]", got)
	}
	got := q(`SELECT concat(toString(total_amount), '|', toString(started_at), '|', location_country_code, '|',
		toString(lines.amount), '|', toString(lines.unit_price), '|', toString(lines.time), '|', toString(version), '|', event_id)
		FROM chargeline.charging_sessions_current WHERE id = 'bemo:s000'`)
	want := fmt.Sprintf("5.1769|2024-03-01 10:00:00|NL|[4.8269,0.3500]|[0.386150,NULL]|['2024-03-01 11:00:00',NULL]|100|%s",
		events.EventID("bemo", events.TypeChargingSession, "s000", "100"))
	if len(got) != 1 || got[0] != want {
		t.Errorf("row of bemo:s000 =\n%v\nwant\n%s", got, want)
	}
	// The daily view reads the deduplicated state: 20 sessions, s001 counted once at 9.99.
	daily := q("SELECT concat(toString(day), '|', provider, '|', country, '|', currency, '|', toString(sessions), '|', toString(energy_kwh), '|', toString(amount)) FROM chargeline.charging_sessions_daily")
	if want := "2024-03-01|bemo|NL|EUR|20|250.0000|" + "108.3511"; len(daily) != 1 || daily[0] != want {
		t.Errorf("charging_sessions_daily = %v, want [%s]", daily, want)
	}
	if got := q(fmt.Sprintf("SELECT concat(scope, '|', record_id, '|', payload, '|', toString(fetched_at)) FROM chargeline.raw_records WHERE stream_seq = %d", rawSeqs[2])); len(got) != 1 || got[0] != `acct-1|tx-2|{"id":"tx-2","amount":"1.50"}|2024-03-01 12:00:00` {
		t.Errorf("raw record = %v", got)
	}
	if n := testutil.ToFloat64(s.m.rows.WithLabelValues(TableChargingSessions)); n < 23 {
		t.Errorf("rows inserted metric = %v, want ≥ 23", n)
	}
}

func TestSinkAcknowledgesOnlyAfterInsert(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.AckWait = time.Second // the crashed sink's messages come back quickly
	crashing := e.newSink(t, cfg)
	inserted := make(chan struct{})
	crashing.afterInsert = func(table string, rows int) error {
		close(inserted)
		return errors.New("simulated crash between insert and ack")
	}
	done := runErr(t, crashing)
	publish(t, e.ns.JS, sessions("bemo", 0, 5)...)
	<-inserted
	if err := <-done; !errors.Is(err, errCrash) {
		t.Fatalf("crashed Run returned %v, want errCrash", err)
	}
	ci, err := consumerInfo(t, e.ns.JS, bus.StreamEvents, "sink-events")
	if err != nil {
		t.Fatal(err)
	}
	if ci.AckFloor.Stream != 0 {
		t.Fatalf("ack floor %d after a crash before acknowledging, want 0", ci.AckFloor.Stream)
	}

	// A new sink on the same durable consumer gets the messages again; the table keys absorb
	// the rows inserted twice.
	restarted := e.newSink(t, cfg)
	stop := run(t, restarted)
	rowsEqual(t, e.ch, "SELECT count() FROM chargeline.charging_sessions FINAL", 5)
	allAcked(t, e.ns.JS, bus.StreamEvents, "sink-events")
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	ci, err = consumerInfo(t, e.ns.JS, bus.StreamEvents, "sink-events")
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumRedelivered == 0 && ci.Delivered.Consumer <= 5 {
		t.Errorf("no redelivery seen (delivered %d): the crashed sink must not have acknowledged", ci.Delivered.Consumer)
	}
}

func TestSinkFlushesAndAcknowledgesOnShutdown(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.BatchRows, cfg.BatchAge, cfg.AckWait = 1000, time.Hour, 2*time.Hour // only shutdown flushes
	s := e.newSink(t, cfg)
	stop := run(t, s)
	publish(t, e.ns.JS, sessions("bemo", 0, 9)...)
	waitFor(t, "the sink to hold all 9 messages", func() (bool, error) {
		ci, err := consumerInfo(t, e.ns.JS, bus.StreamEvents, "sink-events")
		return err == nil && ci.NumAckPending == 9, err
	})
	if n := e.ch.QueryUint64(t, "SELECT count() FROM chargeline.charging_sessions"); n != 0 {
		t.Fatalf("%d rows inserted before any batch limit was reached", n)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	if n := e.ch.QueryUint64(t, "SELECT count() FROM chargeline.charging_sessions FINAL"); n != 9 {
		t.Fatalf("%d rows after shutdown, want 9", n)
	}
	allAcked(t, e.ns.JS, bus.StreamEvents, "sink-events")
}

func TestSinkRetriesClickHouseOutageWithoutAcknowledging(t *testing.T) {
	e := newEnv(t)
	s := e.newSink(t, e.config())
	stop := run(t, s)
	publish(t, e.ns.JS, sessions("bemo", 0, 5)...)
	rowsEqual(t, e.ch, "SELECT count() FROM chargeline.charging_sessions FINAL", 5)
	allAcked(t, e.ns.JS, bus.StreamEvents, "sink-events")

	e.ch.Stop()
	publish(t, e.ns.JS, sessions("bemo", 5, 10)...)
	waitFor(t, "an insert to fail while ClickHouse is down", func() (bool, error) {
		return testutil.ToFloat64(s.m.errors.WithLabelValues(TableChargingSessions, kindOutage)) >= 2, nil
	})
	ci, err := consumerInfo(t, e.ns.JS, bus.StreamEvents, "sink-events")
	if err != nil {
		t.Fatal(err)
	}
	// The sink holds at most a batch (7 rows) of the 10; none of them is acknowledged.
	if ci.NumAckPending == 0 || ci.AckFloor.Stream != 5 {
		t.Fatalf("while ClickHouse is down: ack pending %d, ack floor %d; want > 0 and 5 (nothing acknowledged)", ci.NumAckPending, ci.AckFloor.Stream)
	}
	if got := testutil.ToFloat64(s.m.dlq.WithLabelValues(TableChargingSessions)); got != 0 {
		t.Fatalf("%v messages dead-lettered during an outage, want 0", got)
	}

	e.ch.Restart()
	rowsEqual(t, e.ch, "SELECT count() FROM chargeline.charging_sessions FINAL", 15)
	allAcked(t, e.ns.JS, bus.StreamEvents, "sink-events")
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// TestSinkKeepsMessagesAliveWhileAnInsertHangs: ClickHouse frozen mid-insert (connections open,
// nothing answering) for three AckWaits. The loop fetches on meanwhile; the messages it holds must
// be kept alive, not delivered again (to this loop or another sink), and go in once, when the
// server thaws.
func TestSinkKeepsMessagesAliveWhileAnInsertHangs(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.AckWait = 2 * time.Second
	s := e.newSink(t, cfg)
	stop := run(t, s)
	publish(t, e.ns.JS, sessions("bemo", 0, 5)...)
	rowsEqual(t, e.ch, "SELECT count() FROM chargeline.charging_sessions FINAL", 5)

	e.ch.Freeze()
	publish(t, e.ns.JS, sessions("bemo", 5, 10)...)
	waitFor(t, "the sink to hold the new events", func() (bool, error) {
		ci, err := consumerInfo(t, e.ns.JS, bus.StreamEvents, "sink-events")
		return err == nil && ci.NumAckPending == 10 && ci.NumPending == 0, err
	})
	time.Sleep(3 * cfg.AckWait) // the scenario: a hang three times as long as AckWait
	ci, err := consumerInfo(t, e.ns.JS, bus.StreamEvents, "sink-events")
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumRedelivered != 0 {
		t.Errorf("%d messages delivered again during the hang, want 0: they were not kept alive", ci.NumRedelivered)
	}
	e.ch.Thaw()
	rowsEqual(t, e.ch, "SELECT count() FROM chargeline.charging_sessions FINAL", 15)
	rowsEqual(t, e.ch, "SELECT count() FROM chargeline.charging_sessions", 15)
	allAcked(t, e.ns.JS, bus.StreamEvents, "sink-events")
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

func TestSinkDeadLettersPoisonAndInsertsTheRest(t *testing.T) {
	e := newEnv(t)
	s := e.newSink(t, e.config())
	// A row ClickHouse itself refuses: this guard throws on insert for account "poison".
	e.ch.Exec(t, `CREATE MATERIALIZED VIEW chargeline.test_poison_guard ENGINE = Memory AS
		SELECT throwIf(account = 'poison') AS refused FROM chargeline.charging_sessions`)
	stop := run(t, s)

	msgs := sessions("bemo", 0, 10)
	refused := events.EventMsg(session("bemo", "refused", 200, func(cs *events.ChargingSession) { cs.Account = "poison" }))
	broken := events.EventMsg(session("bemo", "broken", 201, nil))
	broken.Data = []byte(`{"id": "bemo:broken", "provider": `)
	rounding := events.EventMsg(session("bemo", "rounding", 202, func(cs *events.ChargingSession) { cs.TotalAmount = "1.23456" }))
	all := append(msgs[:4:4], refused, broken)
	all = append(all, msgs[4:]...)
	all = append(all, rounding)
	seqs := publish(t, e.ns.JS, all...)

	// 18.16 writes a block before the view's throwIf refuses it, so the guard leaves the refused
	// row in the table; a refusal from the table itself would not. Count the others.
	rowsEqual(t, e.ch, "SELECT count() FROM chargeline.charging_sessions FINAL WHERE account != 'poison'", 10)
	allAcked(t, e.ns.JS, bus.StreamEvents, "sink-events")
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}

	dlq, err := e.ns.JS.OrderedConsumer(t.Context(), bus.StreamDLQ, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"dlq.sink.>"}})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := dlq.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]jetstream.Msg{}
	for m := range batch.Messages() {
		got[m.Headers().Get(events.HeaderID)] = m
	}
	wantDead := map[string]struct {
		orig  *nats.Msg
		seq   uint64
		error string
	}{
		refused.Header.Get(events.HeaderID):  {refused, seqs[4], "code: 395"},
		broken.Header.Get(events.HeaderID):   {broken, seqs[5], "charging_session body"},
		rounding.Header.Get(events.HeaderID): {rounding, seqs[len(seqs)-1], "more than 4 decimals"},
	}
	if len(got) != len(wantDead) {
		t.Fatalf("DLQ holds %d messages, want %d", len(got), len(wantDead))
	}
	for id, w := range wantDead {
		m, ok := got[id]
		if !ok {
			t.Errorf("ce-id %s not dead-lettered", id)
			continue
		}
		h := m.Headers()
		checks := map[string]string{
			HeaderStage: "sink", HeaderOriginalSubject: "events.charging_session.v1.bemo",
			HeaderOriginalSequence: strconv.FormatUint(w.seq, 10), HeaderAttempts: "1",
			nats.MsgIdHdr: "dlq-sink-EVENTS-" + strconv.FormatUint(w.seq, 10) + "-" + id, events.HeaderType: "io.chargeline.charging_session.v1",
		}
		for k, v := range checks {
			if h.Get(k) != v {
				t.Errorf("%s: header %s = %q, want %q", id, k, h.Get(k), v)
			}
		}
		if m.Subject() != "dlq.sink.bemo" {
			t.Errorf("%s: subject %s, want dlq.sink.bemo", id, m.Subject())
		}
		if e := h.Get(HeaderError); !containsFold(e, w.error) {
			t.Errorf("%s: %s = %q, want it to mention %q", id, HeaderError, e, w.error)
		}
		if string(m.Data()) != string(w.orig.Data) {
			t.Errorf("%s: DLQ body differs from the original", id)
		}
	}
	if n := testutil.ToFloat64(s.m.dlq.WithLabelValues(TableChargingSessions)); n != 3 {
		t.Errorf("dlq metric = %v, want 3", n)
	}
}

func containsFold(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (func() bool {
		for i := 0; i+len(sub) <= len(s); i++ {
			if equalFold(s[i:i+len(sub)], sub) {
				return true
			}
		}
		return false
	})())
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

func TestSinkFlushesByRowsAndByBytes(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		rows int
		size int
	}{
		{name: "rows", rows: 2, size: DefaultBatchBytes},
		{name: "bytes", rows: 1000, size: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.config()
			// The age limit is out of reach: only rows or bytes can trigger these inserts.
			cfg.BatchRows, cfg.BatchBytes, cfg.BatchAge, cfg.AckWait = tt.rows, tt.size, time.Hour, 2*time.Hour
			cfg.EventsConsumer, cfg.RawConsumer = tt.name+"-events", tt.name+"-raw"
			s := e.newSink(t, cfg)
			stop := run(t, s)
			publish(t, e.ns.JS, sessions(tt.name, 0, 4)...)
			rowsEqual(t, e.ch, "SELECT count() FROM chargeline.charging_sessions FINAL WHERE provider = '"+tt.name+"'", 4)
			if err := stop(); err != nil {
				t.Fatalf("Run returned %v", err)
			}
		})
	}
}
