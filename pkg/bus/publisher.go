package bus

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrPublisherClosed is returned by Publisher.Publish after Close.
var ErrPublisherClosed = errors.New("bus: publisher closed")

// ErrUnavailable is wrapped by the publish errors that say nothing about the message: NATS
// unreachable, a PubAck that did not come in time, a stream that refuses new messages because it
// is full or has no leader. Retrying the same message later succeeds once the bus is back, so a
// handler failing with it is redelivered until then, and DLQ never dead-letters it.
var ErrUnavailable = errors.New("bus: JetStream unavailable")

// unavailable wraps err with ErrUnavailable unless the message itself is at fault (larger than
// the server or the stream accepts): retrying that one can never succeed.
func unavailable(err error) error {
	if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) {
		return err
	}
	var api *jetstream.APIError
	if errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

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
// not; those errors wrap ErrUnavailable unless the message itself was refused (too large). Waiting
// for a PubAck ends with the message's context. The messages are sent pipelined, so a batch
// costs about one round trip. Publish is safe for concurrent use.
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
			errs = append(errs, fmt.Errorf("bus: publish to %s: %w", topic, unavailable(err)))
		}
	}
	for i, f := range futures {
		if f != nil {
			errs = append(errs, waitPubAck(msgs[i].Context(), topic, f))
		}
	}
	return errors.Join(errs...)
}

// PublishMsgs is Publish for messages already in their NATS form (events.EventMsg,
// events.RawMsg: CloudEvents binary mode, Nats-Msg-Id = ce-id), each on its own subject: it
// skips the round trip through watermill metadata and the codec, which cost the normalizer
// two header maps per event. It returns once JetStream has acknowledged every message, or with
// the errors of those it did not; waiting ends with ctx. Safe for concurrent use.
func (p *Publisher) PublishMsgs(ctx context.Context, msgs ...*nats.Msg) error {
	return p.PublishMsgsAsync(msgs...)(ctx)
}

// PublishMsgsAsync is PublishMsgs in two steps: it sends msgs at once and returns the wait for
// their PubAcks. The normalizer sends on its mapping workers, whose stacks have grown, and waits
// on the router's goroutine: sending from a fresh goroutine grew its stack for every record.
func (p *Publisher) PublishMsgsAsync(msgs ...*nats.Msg) (wait func(ctx context.Context) error) {
	if p.closed.Load() {
		return func(context.Context) error { return ErrPublisherClosed }
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	var errs []error
	for i, m := range msgs {
		var err error
		if futures[i], err = p.js.PublishMsgAsync(m); err != nil {
			errs = append(errs, fmt.Errorf("bus: publish to %s: %w", m.Subject, unavailable(err)))
		}
	}
	return func(ctx context.Context) error {
		for i, f := range futures {
			if f != nil {
				errs = append(errs, waitPubAck(ctx, msgs[i].Subject, f))
			}
		}
		return errors.Join(errs...)
	}
}

func waitPubAck(ctx context.Context, subject string, f jetstream.PubAckFuture) error {
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return fmt.Errorf("bus: publish to %s: %w", subject, unavailable(err))
	case <-ctx.Done():
		return fmt.Errorf("bus: publish to %s: waiting for PubAck: %w", subject, unavailable(ctx.Err()))
	}
}

// Close makes later Publish calls fail. The connection stays open: its owner drains it.
func (p *Publisher) Close() error {
	p.closed.Store(true)
	return nil
}
