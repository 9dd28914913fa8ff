package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	wmjetstream "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	// Consumer returns the JetStream consumer that Subscribe(topic) reads, typically by creating
	// or updating a durable pull consumer (idempotent, so every replica may call it). Required.
	Consumer func(ctx context.Context, topic string) (jetstream.Consumer, error)
	// Conn is the connection the consumer's messages arrive on. Acks are buffered by it; Close
	// flushes it, so that the acks of the settled messages have reached the server when Close
	// returns. Without it, they go out with the connection's next write.
	Conn *nats.Conn
	// Unmarshaler turns JetStream messages into watermill messages; default CloudEvents.
	Unmarshaler wmjetstream.Unmarshaler
	// NakDelay gives the redelivery delay of a Nacked message by delivery attempt; default
	// Backoff{}. TermSignal terminates the message instead.
	NakDelay wmjetstream.Delay
	// Concurrency is how many messages of one subscription are handled at once; default 1, which
	// keeps the stream order.
	Concurrency int
	// AckWait bounds the handling of one message: its context ends then. Set it to the consumer's
	// AckWait, after which JetStream redelivers anyway; default 30s.
	AckWait time.Duration
	// CloseTimeout bounds how long Close waits for in-flight messages; default 30s.
	CloseTimeout time.Duration
	// SettleInHandler has the handler's own goroutine settle each message, through the Settle
	// middleware, which the handler of every subscription must then carry, outermost (so that it
	// sees the verdict of the middleware inside it, the DLQ's included): Settle acks a message
	// whose handler returned nil and naks one whose handler failed or Nacked it. Without it the
	// Subscriber starts a goroutine per message to wait for the router's Ack or Nack: in
	// `make bench` that goroutine, its select and its wake-ups were a third of what the
	// normalizer spent beyond its bare loop (its CPU per record 1.58× the loop's, 1.40× without).
	// A message a handler without Settle receives is never settled: JetStream redelivers it after
	// AckWait, again and again.
	SettleInHandler bool
	// Logger receives consumer errors and failed acks; nil discards.
	Logger *slog.Logger
}

func (c *SubscriberConfig) setDefaults() {
	if c.Unmarshaler == nil {
		c.Unmarshaler = CloudEvents{}
	}
	if c.NakDelay == nil {
		c.NakDelay = Backoff{}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports what is missing from c.
func (c SubscriberConfig) Validate() error {
	if c.Consumer == nil {
		return errors.New("bus: SubscriberConfig.Consumer is missing")
	}
	return nil
}

// Subscriber is a watermill Subscriber on JetStream pull consumers (nats.go's jetstream
// package). A message is acknowledged only once its handler Acks it (or, with SettleInHandler,
// returns nil through Settle); a Nack (an error) asks JetStream to redeliver it after NakDelay; a
// message whose handler neither acks nor nacks within AckWait is left to JetStream's own
// redelivery.
//
// Messages are handled with a context that is not cancelled when the subscription stops, only
// when AckWait has passed: stopping lets in-flight messages finish (Close waits up to
// CloseTimeout) instead of failing them halfway. Messages fetched but not yet handed out are
// left unacknowledged for JetStream to redeliver. The Subscriber never closes the connection.
type Subscriber struct {
	cfg     SubscriberConfig
	closing chan struct{}
	once    sync.Once
	subs    sync.WaitGroup
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a Subscriber; cfg.Consumer is required.
func NewSubscriber(cfg SubscriberConfig) (*Subscriber, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Subscriber{cfg: cfg, closing: make(chan struct{})}, nil
}

// Subscribe starts consuming the consumer cfg.Consumer returns for topic. The channel is closed
// when ctx ends or the Subscriber is closed; messages already received are still settled.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	select {
	case <-s.closing:
		return nil, errors.New("bus: subscriber closed")
	default:
	}
	cons, err := s.cfg.Consumer(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("bus: consumer for %s: %w", topic, err)
	}
	logger := s.cfg.Logger.With(slog.String("topic", topic))
	if info := cons.CachedInfo(); info != nil {
		logger = s.cfg.Logger.With(slog.String("stream", info.Stream), slog.String("consumer", info.Name))
	}
	sub := &subscription{
		cfg:    s.cfg,
		ctx:    context.WithoutCancel(ctx),
		out:    make(chan *message.Message),
		stop:   make(chan struct{}),
		slots:  make(chan struct{}, s.cfg.Concurrency),
		logger: logger,
	}
	cc, err := cons.Consume(sub.receive,
		jetstream.PullMaxMessages(2*s.cfg.Concurrency),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			sub.logger.Warn("consumer error", slog.String("error", err.Error()))
		}))
	if err != nil {
		return nil, fmt.Errorf("bus: consume %s: %w", topic, err)
	}
	s.subs.Add(1)
	go func() {
		defer s.subs.Done()
		select {
		case <-ctx.Done():
		case <-s.closing:
		}
		sub.close(cc)
	}()
	return sub.out, nil
}

// Close stops every subscription and waits up to CloseTimeout for their in-flight messages to
// be settled. It is safe to call more than once.
func (s *Subscriber) Close() error {
	s.once.Do(func() { close(s.closing) })
	done := make(chan struct{})
	go func() { s.subs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.CloseTimeout):
		return fmt.Errorf("bus: subscriber: in-flight messages not settled within %s", s.cfg.CloseTimeout)
	}
	if s.cfg.Conn == nil {
		return nil
	}
	// A flush (PING/PONG) returns once the server has read everything written before it.
	// Failing (NATS down) is no reason to fail a stop: the unconfirmed messages are redelivered.
	// A connection that is reconnecting would only answer after CloseTimeout.
	if !s.cfg.Conn.IsConnected() {
		s.cfg.Logger.Warn("acknowledgements not confirmed at close (NATS unreachable); JetStream redelivers those messages")
		return nil
	}
	if err := s.cfg.Conn.FlushTimeout(s.cfg.CloseTimeout); err != nil {
		s.cfg.Logger.Warn("acknowledgements not confirmed at close; JetStream redelivers those messages", slog.String("error", err.Error()))
	}
	return nil
}

type subscription struct {
	cfg    SubscriberConfig
	ctx    context.Context // values of the Subscribe context, never cancelled
	out    chan *message.Message
	stop   chan struct{}
	slots  chan struct{} // one token per message in flight
	logger *slog.Logger

	step       context.Context // the AckWait context of the messages received since stepStart
	stepCancel context.CancelFunc
	stepStart  time.Time

	mu       sync.RWMutex // held for reading while sending on out; for writing to close it
	outDone  bool
	inflight sync.WaitGroup
}

// receive is the consume callback: nats.go calls it for one message at a time, so blocking here
// (no free slot, nobody reading) is the back-pressure.
func (s *subscription) receive(jm jetstream.Msg) {
	select {
	case s.slots <- struct{}{}:
	case <-s.stop:
		return // left unacknowledged: redelivered after AckWait
	}
	wm, err := s.cfg.Unmarshaler.Unmarshal(jm)
	if err != nil {
		s.logger.Error("cannot unmarshal message", slog.String("subject", jm.Subject()), slog.String("error", err.Error()))
		s.nak(jm, wm)
		<-s.slots
		return
	}
	d := &delivery{Context: s.deadline(), sub: s, jm: jm, wm: wm}
	if s.cfg.SettleInHandler {
		wm.SetContext(d) // Settle finds d in it
	} else {
		wm.SetContext(d.Context)
	}

	// Counted before it is handed out: with SettleInHandler it may be settled before the send
	// returns.
	s.inflight.Add(1)
	s.mu.RLock()
	sent := false
	if !s.outDone {
		select {
		case s.out <- wm:
			sent = true
		case <-s.stop:
		}
	}
	s.mu.RUnlock()
	switch {
	case !sent:
		d.release()
	case !s.cfg.SettleInHandler:
		go d.wait()
	}
}

// deadlineStep is how long the messages received one after the other share one AckWait
// context: a context.WithTimeout per message, its timer set and stopped, was 4 of the
// normalizer's allocations per record. A shared context ends up to deadlineStep before
// the AckWait of its later messages: early, never after JetStream redelivers.
const deadlineStep = 10 * time.Millisecond

// deadline returns a context that ends AckWait after the start of the current step. Only
// receive calls it, one message at a time.
func (s *subscription) deadline() context.Context {
	now := time.Now()
	if s.step == nil || now.Sub(s.stepStart) >= deadlineStep {
		// A step's context is not cancelled when the next one starts (its messages settle at
		// different times): its timer ends it at its deadline, and no parent holds it (s.ctx
		// is never cancelled). Close cancels the last one.
		s.step, s.stepCancel = context.WithDeadline(s.ctx, now.Add(s.cfg.AckWait))
		s.stepStart = now
	}
	return s.step
}

// wait settles d on the router's verdict: its Ack, its Nack, or neither within AckWait.
func (d *delivery) wait() {
	select {
	case <-d.wm.Acked():
		d.settle(true)
	case <-d.wm.Nacked():
		d.settle(false)
	case <-d.Done():
		d.settle(false) // past AckWait: settle leaves it to JetStream
	}
}

// Settle is the middleware of a Subscriber with SettleInHandler: it settles each message its
// handler returns from, on the handler's goroutine, as the Subscriber would on its own: an ack
// when the handler returned nil (and did not Nack the message), a nak with the NakDelay of the
// attempt when it failed or panicked (the panic goes on up), neither when the message's AckWait
// has passed (JetStream redelivers it). Messages from elsewhere pass through untouched.
func Settle(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		d, _ := msg.Context().Value(deliveryKey{}).(*delivery)
		if d == nil {
			return h(msg)
		}
		defer func() {
			if p := recover(); p != nil {
				d.settle(false)
				panic(p)
			}
		}()
		out, err := h(msg)
		d.settle(err == nil && !nacked(msg))
		return out, err
	}
}

func nacked(msg *message.Message) bool {
	select {
	case <-msg.Nacked():
		return true
	default:
		return false
	}
}

type deliveryKey struct{}

// delivery is one message handed out: its context (ending after AckWait, shared with the
// messages received at about the same time) and what settling it needs. With SettleInHandler
// it is the message's context itself, where Settle finds it.
type delivery struct {
	context.Context
	sub     *subscription
	jm      jetstream.Msg
	wm      *message.Message
	settled atomic.Bool
}

func (d *delivery) Value(key any) any {
	if key == (deliveryKey{}) {
		return d
	}
	return d.Context.Value(key)
}

// settle acks or naks the message once, then frees its slot.
func (d *delivery) settle(ok bool) {
	if d.settled.Swap(true) {
		return
	}
	s := d.sub
	defer d.release()
	switch {
	case d.Err() != nil:
		s.logger.Warn("handler exceeded ack wait; JetStream redelivers the message",
			slog.String("subject", d.jm.Subject()), slog.String("ce_id", d.wm.UUID), slog.Duration("wait", s.cfg.AckWait))
	case ok:
		s.ack(d.jm, d.wm)
	default:
		s.nak(d.jm, d.wm)
	}
}

// release frees the message's slot.
func (d *delivery) release() {
	<-d.sub.slots
	d.sub.inflight.Done()
}

// ack is Ack, not DoubleAck: waiting for the server's confirmation cost a round trip and a reply
// subscription per record (a third of the normalizer's CPU beyond the bare loop in `make bench`).
// A lost ack means a redelivery, whose events JetStream drops as duplicates (Nats-Msg-Id =
// ce-id); Close flushes the connection so a clean stop loses none.
func (s *subscription) ack(jm jetstream.Msg, wm *message.Message) {
	if err := jm.Ack(); err != nil {
		s.logger.Warn("ack failed; the message will be redelivered", slog.String("subject", jm.Subject()),
			slog.String("ce_id", wm.UUID), slog.String("error", err.Error()))
	}
}

func (s *subscription) nak(jm jetstream.Msg, wm *message.Message) {
	attempt := uint64(1)
	if meta, err := jm.Metadata(); err == nil {
		attempt = meta.NumDelivered
	}
	delay := s.cfg.NakDelay.WaitTime(attempt)
	var err error
	if delay == wmjetstream.TermSignal {
		err = jm.Term()
	} else {
		err = jm.NakWithDelay(delay)
	}
	if err != nil {
		id := ""
		if wm != nil {
			id = wm.UUID
		}
		s.logger.Warn("nak failed; the message will be redelivered after ack wait", slog.String("subject", jm.Subject()),
			slog.String("ce_id", id), slog.Uint64("attempt", attempt), slog.String("error", err.Error()))
	}
}

// close stops fetching, closes out, and waits for the messages handed out to be settled.
func (s *subscription) close(cc jetstream.ConsumeContext) {
	close(s.stop)
	s.mu.Lock()
	s.outDone = true
	close(s.out)
	s.mu.Unlock()
	cc.Stop()
	stopped := false
	select {
	case <-cc.Closed():
		stopped = true // receive runs no more
	case <-time.After(s.cfg.CloseTimeout):
		s.logger.Warn("consumer did not stop in time")
	}
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		if stopped && s.stepCancel != nil {
			s.stepCancel() // its timer, up to AckWait more otherwise
		}
	case <-time.After(s.cfg.CloseTimeout):
		s.logger.Warn("in-flight messages not settled in time; JetStream redelivers them")
	}
}
