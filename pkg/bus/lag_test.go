package bus_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
)

// TestLagCollectorReadsConsumerInfoAtScrape publishes N messages to a durable consumer nobody
// consumes, then fetches some without acknowledging them: every scrape reports what the
// server's consumer info says at that moment.
func TestLagCollectorReadsConsumerInfoAtScrape(t *testing.T) {
	ns := natstest.Start(t)
	cons, err := ns.JS.CreateOrUpdateConsumer(t.Context(), bus.StreamRaw, jetstream.ConsumerConfig{
		Durable: "lagtest", FilterSubject: "raw.lagtest.>", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 7
	for i := range n {
		if _, err := ns.JS.Publish(t.Context(), "raw.lagtest.things", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c := bus.NewLagCollector(ns.JS, "test",
		bus.ConsumerRef{Stream: bus.StreamRaw, Consumer: "lagtest"},
		bus.ConsumerRef{Stream: bus.StreamEvents, Consumer: "missing"})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	expect := func(lag, ackPending int) {
		t.Helper()
		want := `
# HELP chargeline_test_consumer_ack_pending_messages Messages delivered to the durable consumer and not yet acknowledged (num_ack_pending), read at scrape time.
# TYPE chargeline_test_consumer_ack_pending_messages gauge
chargeline_test_consumer_ack_pending_messages{consumer="lagtest",stream="RAW"} ` + strconv.Itoa(ackPending) + `
# HELP chargeline_test_consumer_info_up 1 if the durable consumer's info could be read at this scrape, 0 if not (not created yet, NATS unreachable).
# TYPE chargeline_test_consumer_info_up gauge
chargeline_test_consumer_info_up{consumer="lagtest",stream="RAW"} 1
chargeline_test_consumer_info_up{consumer="missing",stream="EVENTS"} 0
# HELP chargeline_test_consumer_lag_messages Messages in the stream not yet delivered to the durable consumer (consumer info num_pending), read at scrape time.
# TYPE chargeline_test_consumer_lag_messages gauge
chargeline_test_consumer_lag_messages{consumer="lagtest",stream="RAW"} ` + strconv.Itoa(lag) + `
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
			"chargeline_test_consumer_lag_messages", "chargeline_test_consumer_ack_pending_messages", "chargeline_test_consumer_info_up"); err != nil {
			t.Fatal(err)
		}
	}
	// The server counts a consumer's pending messages as the stream signals them, a moment
	// after the PubAck: wait until its own info says n, the figure the scrape must repeat.
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := cons.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer info num_pending %d after 5s, want %d", info.NumPending, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	expect(n, 0)

	batch, err := cons.FetchNoWait(3)
	if err != nil {
		t.Fatal(err)
	}
	var got []jetstream.Msg
	for m := range batch.Messages() {
		got = append(got, m)
	}
	if len(got) != 3 {
		t.Fatalf("fetched %d messages, want 3 (%v)", len(got), batch.Error())
	}
	expect(n-3, 3)

	for _, m := range got {
		if err := m.DoubleAck(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	expect(n-3, 0)

	// NATS gone: the scrape still answers, with info_up 0 and no stale counts.
	ns.Shutdown()
	ns.WaitForShutdown()
	if got := testutil.CollectAndCount(c, "chargeline_test_consumer_lag_messages"); got != 0 {
		t.Errorf("%d lag series with NATS down, want 0", got)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP chargeline_test_consumer_info_up 1 if the durable consumer's info could be read at this scrape, 0 if not (not created yet, NATS unreachable).
# TYPE chargeline_test_consumer_info_up gauge
chargeline_test_consumer_info_up{consumer="lagtest",stream="RAW"} 0
chargeline_test_consumer_info_up{consumer="missing",stream="EVENTS"} 0
`), "chargeline_test_consumer_info_up"); err != nil {
		t.Fatal(err)
	}
}
