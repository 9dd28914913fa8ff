package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
)

// rawConsumer creates a durable consumer on RAW filtered to topic, as the normalizer does.
func rawConsumer(srv *natstest.Server) func(ctx context.Context, topic string) (jetstream.Consumer, error) {
	return func(ctx context.Context, topic string) (jetstream.Consumer, error) {
		return srv.JS.CreateOrUpdateConsumer(ctx, bus.StreamRaw, jetstream.ConsumerConfig{
			Durable: "test", FilterSubject: topic, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 5,
		})
	}
}

func consumerInfo(t *testing.T, srv *natstest.Server) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := srv.JS.Consumer(t.Context(), bus.StreamRaw, "test")
	if err != nil {
		t.Fatal(err)
	}
	return c.CachedInfo()
}

func receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no message within 30s")
	}
	return nil
}

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

func subscribe(t *testing.T, srv *natstest.Server, cfg bus.SubscriberConfig) (*bus.Subscriber, <-chan *message.Message, context.CancelFunc) {
	t.Helper()
	cfg.Consumer = rawConsumer(srv)
	cfg.Conn = srv.NC
	sub, err := bus.NewSubscriber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := sub.Subscribe(ctx, "raw.bemo.>")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := sub.Close(); err != nil {
			t.Error(err)
		}
	})
	return sub, ch, cancel
}

// A message is acknowledged only when its handler Acks it, and the ack is confirmed.
func TestSubscriberAcksOnlyAfterAck(t *testing.T) {
	srv := natstest.Start(t)
	_, ch, _ := subscribe(t, srv, bus.SubscriberConfig{})
	if _, err := srv.JS.PublishMsg(t.Context(), events.RawMsg(sampleRaw())); err != nil {
		t.Fatal(err)
	}
	m := receive(t, ch)
	if got := consumerInfo(t, srv).NumAckPending; got != 1 {
		t.Fatalf("NumAckPending before Ack = %d, want 1", got)
	}
	m.Ack()
	waitFor(t, "the ack", func() bool { return consumerInfo(t, srv).NumAckPending == 0 })
	if info := consumerInfo(t, srv); info.AckFloor.Stream != 1 || info.NumRedelivered != 0 {
		t.Errorf("ack floor %d, redelivered %d; want 1, 0", info.AckFloor.Stream, info.NumRedelivered)
	}
}

// A Nacked message comes back after the NakDelay of its attempt, not at once.
func TestSubscriberNackRedeliversAfterDelay(t *testing.T) {
	srv := natstest.Start(t)
	const delay = 300 * time.Millisecond
	_, ch, _ := subscribe(t, srv, bus.SubscriberConfig{NakDelay: bus.Backoff{Initial: delay, Max: time.Minute}})
	if _, err := srv.JS.PublishMsg(t.Context(), events.RawMsg(sampleRaw())); err != nil {
		t.Fatal(err)
	}
	first := receive(t, ch)
	nacked := time.Now()
	first.Nack()
	second := receive(t, ch)
	if gap := time.Since(nacked); gap < delay {
		t.Errorf("redelivered %v after the Nack, want ≥ %v", gap, delay)
	}
	if second.UUID != first.UUID || bus.Delivered(first) != 1 || bus.Delivered(second) != 2 {
		t.Errorf("second delivery %s attempt %d (first %s attempt %d), want the same message, attempts 1 and 2",
			second.UUID, bus.Delivered(second), first.UUID, bus.Delivered(first))
	}
	second.Ack()
	waitFor(t, "the ack", func() bool { return consumerInfo(t, srv).NumAckPending == 0 })
}

// Stopping the subscription closes its channel at once but lets the message being handled
// finish: its context stays alive and its ack still reaches the server.
func TestSubscriberStopLetsInFlightFinish(t *testing.T) {
	srv := natstest.Start(t)
	sub, ch, cancel := subscribe(t, srv, bus.SubscriberConfig{})
	if _, err := srv.JS.PublishMsg(t.Context(), events.RawMsg(sampleRaw())); err != nil {
		t.Fatal(err)
	}
	m := receive(t, ch)
	cancel()
	for range ch { // closed once the subscription stops; nothing else is handed out
		t.Error("a message was handed out after the subscription stopped")
	}
	if err := m.Context().Err(); err != nil {
		t.Fatalf("in-flight message context ended with the subscription: %v", err)
	}
	m.Ack()
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	// Close returned: the ack has been confirmed by the server.
	if got := consumerInfo(t, srv).NumAckPending; got != 0 {
		t.Errorf("NumAckPending after Close = %d, want 0", got)
	}
}

func TestSubscriberConfigValidate(t *testing.T) {
	if _, err := bus.NewSubscriber(bus.SubscriberConfig{}); err == nil {
		t.Fatal("NewSubscriber without Consumer returned no error")
	}
}

// With SettleInHandler, Settle acks on the handler's return: nil acks, an error naks (the
// message comes back, once the NakDelay has passed), a panic naks and goes on up; the router's
// own Ack and Nack are not waited for.
func TestSettleAcksOnTheHandlersVerdict(t *testing.T) {
	srv := natstest.Start(t)
	const delay = 200 * time.Millisecond
	_, ch, _ := subscribe(t, srv, bus.SubscriberConfig{SettleInHandler: true, NakDelay: bus.Backoff{Initial: delay, Max: time.Minute}})
	if _, err := srv.JS.PublishMsg(t.Context(), events.RawMsg(sampleRaw())); err != nil {
		t.Fatal(err)
	}
	fail := bus.Settle(func(*message.Message) ([]*message.Message, error) { return nil, errors.New("not yet") })
	first := receive(t, ch)
	if _, err := fail(first); err == nil {
		t.Fatal("Settle swallowed the handler's error")
	}
	naked := time.Now()
	second := receive(t, ch)
	if gap := time.Since(naked); gap < delay || bus.Delivered(second) != 2 {
		t.Fatalf("attempt %d %v after the failure, want attempt 2 after ≥ %v", bus.Delivered(second), gap, delay)
	}
	panics := bus.Settle(func(*message.Message) ([]*message.Message, error) { panic("boom") })
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want the handler's panic", p)
			}
		}()
		panics(second)
	}()
	third := receive(t, ch)
	if bus.Delivered(third) != 3 {
		t.Fatalf("attempt %d after the panic, want 3", bus.Delivered(third))
	}
	if got := consumerInfo(t, srv).NumAckPending; got != 1 {
		t.Fatalf("NumAckPending while the third attempt is handled = %d, want 1", got)
	}
	ok := bus.Settle(func(*message.Message) ([]*message.Message, error) { return nil, nil })
	if _, err := ok(third); err != nil {
		t.Fatal(err)
	}
	// No m.Ack(): Settle alone settled it.
	waitFor(t, "the ack", func() bool { return consumerInfo(t, srv).NumAckPending == 0 })
	if info := consumerInfo(t, srv); info.AckFloor.Stream != 1 {
		t.Errorf("ack floor %d, want 1", info.AckFloor.Stream)
	}
}

// A handler that Nacks the message itself and returns nil gets a nak, not an ack; a message
// that is not a SettleInHandler delivery passes through Settle untouched.
func TestSettleHonoursAHandlersNack(t *testing.T) {
	srv := natstest.Start(t)
	_, ch, _ := subscribe(t, srv, bus.SubscriberConfig{SettleInHandler: true, NakDelay: bus.Backoff{Initial: time.Millisecond, Max: time.Millisecond}})
	if _, err := srv.JS.PublishMsg(t.Context(), events.RawMsg(sampleRaw())); err != nil {
		t.Fatal(err)
	}
	nack := bus.Settle(func(m *message.Message) ([]*message.Message, error) { m.Nack(); return nil, nil })
	if _, err := nack(receive(t, ch)); err != nil {
		t.Fatal(err)
	}
	again := receive(t, ch)
	if bus.Delivered(again) != 2 {
		t.Fatalf("attempt %d after a Nack, want 2", bus.Delivered(again))
	}
	called := false
	plain := bus.Settle(func(*message.Message) ([]*message.Message, error) { called = true; return nil, nil })
	if _, err := plain(message.NewMessage("x", nil)); err != nil || !called {
		t.Errorf("a message from elsewhere: handler called %v, err %v; want called, nil", called, err)
	}
	if _, err := plain(again); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ack", func() bool { return consumerInfo(t, srv).NumAckPending == 0 })
}
