package ops_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/ops"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
)

func publishRaw(t *testing.T, js jetstream.JetStream, scope, id, data string) events.Raw {
	t.Helper()
	raw := events.Raw{ID: events.RawID("bemo", "sessions", id, []byte(data)), Provider: "bemo", Resource: "sessions",
		Scope: scope, RecordID: id, FetchedAt: time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC), Data: []byte(data)}
	if _, err := js.PublishMsg(t.Context(), events.RawMsg(raw)); err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestStatusShowsStreamsConsumerLagAndCheckpointAge(t *testing.T) {
	ns := natstest.Start(t)
	for i := range 3 {
		publishRaw(t, ns.JS, "acc-1", "s"+string(rune('a'+i)), `{"sessionId":"x"}`)
	}
	// A normalizer's consumer that received one record and has not acknowledged it yet.
	cons, err := ns.JS.CreateOrUpdateConsumer(t.Context(), bus.StreamRaw, jetstream.ConsumerConfig{
		Durable: normalize.ConsumerName("bemo"), AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "raw.bemo.>",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Fetch(1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "one message ack pending", func() bool {
		ci, err := cons.Info(t.Context())
		return err == nil && ci.NumAckPending == 1
	})
	// A poller's checkpoint and the lease it holds.
	kv, err := ns.JS.KeyValue(t.Context(), bus.BucketCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poll.NewCheckpoints(kv).Set(t.Context(), "bemo", "acc-1", bemo.CheckpointAt(time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)), 0); err != nil {
		t.Fatal(err)
	}
	leases, err := ns.JS.KeyValue(t.Context(), bus.BucketLeases)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poll.Acquire(t.Context(), leases, "bemo", "acc-1", "poller-7"); err != nil {
		t.Fatal(err)
	}

	now := time.Now().Add(90 * time.Minute)
	c := newCLI(map[string]string{"NATS_URL": ns.URL})
	c.now = func() time.Time { return now }
	var rep ops.StatusReport
	c.json(t, ops.ExitOK, &rep, "status")

	if len(rep.Streams) != 3 || rep.Streams[0].Name != "RAW" || rep.Streams[0].Messages != 3 || rep.Streams[0].LastTime == nil {
		t.Errorf("streams = %+v, want RAW with 3 messages first", rep.Streams)
	}
	if len(rep.Consumers) != 1 {
		t.Fatalf("consumers = %+v, want the normalizer's only", rep.Consumers)
	}
	if cs := rep.Consumers[0]; cs.Name != "normalizer-bemo" || cs.Stream != "RAW" || cs.Pending != 2 || cs.AckPending != 1 {
		t.Errorf("consumer = %+v, want normalizer-bemo on RAW with 2 pending, 1 ack pending", cs)
	}
	if len(rep.Checkpoints) != 1 {
		t.Fatalf("checkpoints = %+v, want one", rep.Checkpoints)
	}
	cp := rep.Checkpoints[0]
	if cp.Provider != "bemo" || cp.Scope != "acc-1" || cp.Revision == 0 || cp.LeaseHolder != "poller-7" ||
		cp.ResumesAt == nil || !cp.ResumesAt.Equal(time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("checkpoint = %+v", cp)
	}
	if want := int64(now.Sub(cp.Updated) / time.Second); cp.AgeSeconds != want || want < 90*60-5 {
		t.Errorf("checkpoint age = %ds, want %ds (now minus the KV entry's time %s)", cp.AgeSeconds, want, cp.Updated)
	}

	table := c.must(t, ops.ExitOK, "status").stdout
	t.Logf("chargectl status:\n%s", table)
	for _, want := range []string{"STREAM", "RAW", "EVENTS", "DLQ", "normalizer-bemo", "acc-1", "2026-11-19 00:00:00", "poller-7", "1h3"} {
		if !strings.Contains(table, want) {
			t.Errorf("status table does not show %q", want)
		}
	}
}
