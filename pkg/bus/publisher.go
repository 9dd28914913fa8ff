package bus

import (
	"errors"
	"fmt"
	"sync/atomic"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrPublisherClosed is returned by Publisher.Publish after Close.
var ErrPublisherClosed = errors.New("bus: publisher closed")

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Marshaler turns watermill messages into NATS messages; default CloudEvents.
	Marshaler wmnats.Marshaler
}

func (c *PublisherConfig) setDefaults() {
	if c.Marshaler == nil {
		c.Marshaler = CloudEvents{}
	}
}

// Publisher is a watermill Publisher on JetStream (nats.go's jetstream package). Unlike
// watermill-nats' publishers it uses our codec, so Nats-Msg-Id is the ce-id; it waits for the
// PubAck under each message's context; and it does not own the connection.
type Publisher struct {
	js     jetstream.Publisher
	m      wmnats.Marshaler
	closed atomic.Bool
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher over js.
func NewPublisher(js jetstream.Publisher, cfg PublisherConfig) (*Publisher, error) {
	if js == nil {
		return nil, errors.New("bus: NewPublisher: jetstream is nil")
	}
	cfg.setDefaults()
	return &Publisher{js: js, m: cfg.Marshaler}, nil
}

// Publish stores msgs on the subject topic and returns once JetStream has acknowledged every one
// (a duplicate inside the stream's window counts as stored), or with the errors of those it did
// not. Waiting for a PubAck ends with the message's context. The messages are sent pipelined,
// so a batch costs about one round trip. Publish is safe for concurrent use.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if p.closed.Load() {
		return ErrPublisherClosed
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	var errs []error
	for i, m := range msgs {
		nm, err := p.m.Marshal(topic, m)
		if err != nil {
			errs = append(errs, fmt.Errorf("bus: marshal message %s: %w", m.UUID, err))
			continue
		}
		if futures[i], err = p.js.PublishMsgAsync(nm); err != nil {
			errs = append(errs, fmt.Errorf("bus: publish to %s: %w", topic, err))
		}
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		ctx := msgs[i].Context()
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("bus: publish to %s: %w", topic, err))
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("bus: publish to %s: waiting for PubAck: %w", topic, ctx.Err()))
		}
	}
	return errors.Join(errs...)
}

// Close makes later Publish calls fail. The connection stays open: its owner drains it.
func (p *Publisher) Close() error {
	p.closed.Store(true)
	return nil
}
