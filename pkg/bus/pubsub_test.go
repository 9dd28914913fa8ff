package bus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
)

// TestPubSub runs watermill's conformance suite against Publisher and Subscriber: one stream
// per topic, one durable pull consumer per consumer group (the normalizer's shape).
func TestPubSub(t *testing.T) {
	srv := natstest.Start(t)
	construct := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		pub, err := bus.NewPublisher(srv.JS, bus.PublisherConfig{})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := bus.NewSubscriber(bus.SubscriberConfig{
			Consumer: func(ctx context.Context, topic string) (jetstream.Consumer, error) {
				return srv.JS.CreateOrUpdateConsumer(ctx, streamOf(topic), jetstream.ConsumerConfig{
					Durable: group, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 2 * time.Second,
				})
			},
			NakDelay:     bus.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
			Concurrency:  16,
			AckWait:      2 * time.Second,
			CloseTimeout: 5 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		return pub, initializer{sub, srv}
	}
	tests.TestPubSub(t,
		tests.Features{ConsumerGroups: true, Persistent: true},
		func(t *testing.T) (message.Publisher, message.Subscriber) { return construct(t, "default") },
		construct,
	)
}

func streamOf(topic string) string {
	return "T_" + strings.NewReplacer(".", "_", "*", "_", ">", "_").Replace(topic)
}

// initializer adds SubscribeInitialize: it provisions the topic's stream, as bus.Provision does
// for chargeline's own.
type initializer struct {
	*bus.Subscriber
	srv *natstest.Server
}

func (i initializer) SubscribeInitialize(topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := i.srv.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: streamOf(topic), Subjects: []string{topic}, Storage: jetstream.MemoryStorage, Duplicates: time.Minute,
	})
	return err
}
