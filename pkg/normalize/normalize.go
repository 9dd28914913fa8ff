package normalize

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/tracing"
	eventschema "github.com/chargeline/chargeline/schemas/events"
)

// Stage is the normalizer's stage in dlq.<stage>.<provider>.
const Stage = "normalize"

// ConsumerName is the durable consumer the normalizers of provider share.
func ConsumerName(provider string) string { return "normalizer-" + provider }

// Normalizer maps the raw records of its providers. Several Normalizers, in one process or many,
// share the work of a provider's consumer.
type Normalizer struct {
	cfg        Config
	js         jetstream.JetStream
	providers  []providers.Provider
	logger     *slog.Logger
	metrics    *metrics
	pub        *bus.Publisher
	types      []string                      // the event types that have a schema
	validators map[string]*jsonschema.Schema // nil unless SchemaValidation
	tracer     trace.Tracer                  // nil: tracing off
}

// New builds a Normalizer for the providers cfg.Providers names among known (all of known when
// cfg.Providers is empty). It does not touch NATS; Run does. logger nil discards; reg nil
// registers no metrics.
func New(cfg Config, js jetstream.JetStream, known []providers.Provider, logger *slog.Logger, reg prometheus.Registerer) (*Normalizer, error) {
	cfg.setDefaults()
	if err := cfg.Check(known); err != nil {
		return nil, err
	}
	if js == nil {
		return nil, errors.New("normalize: New: jetstream is nil")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	selected, err := cfg.selectProviders(known)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	pub, err := bus.NewPublisher(js, bus.PublisherConfig{})
	if err != nil {
		return nil, err
	}
	n := &Normalizer{cfg: cfg, js: js, providers: selected, logger: logger, metrics: m, pub: pub, types: eventschema.Types(),
		tracer: tracing.Tracer(cfg.Tracing, "pkg/normalize")}
	if cfg.SchemaValidation {
		n.validators = map[string]*jsonschema.Schema{}
		for _, typ := range eventschema.Types() {
			if n.validators[typ], err = eventschema.Validator(typ); err != nil {
				return nil, fmt.Errorf("normalize: %w", err)
			}
		}
	}
	return n, nil
}

// Check reports what New would refuse in cfg (zero fields taking their defaults) with the
// providers known, so a main can fail on configuration before it connects anywhere.
func (cfg Config) Check(known []providers.Provider) error {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	_, err := cfg.selectProviders(known)
	return err
}

// selectProviders returns the providers cfg.Providers names, all of known if it names none.
func (cfg Config) selectProviders(known []providers.Provider) ([]providers.Provider, error) {
	if len(cfg.Providers) == 0 {
		if len(known) == 0 {
			return nil, fmt.Errorf("%w: --normalizer-providers/NORMALIZER_PROVIDERS: no provider to normalize", config.ErrInvalid)
		}
		return known, nil
	}
	var names []string
	for _, p := range known {
		names = append(names, p.Name())
	}
	var selected []providers.Provider
	for _, name := range cfg.Providers {
		i := slices.Index(names, name)
		if i < 0 {
			return nil, fmt.Errorf("%w: --normalizer-providers/NORMALIZER_PROVIDERS: %w %q (known: %s)",
				config.ErrInvalid, providers.ErrUnknown, name, strings.Join(names, ", "))
		}
		selected = append(selected, known[i])
	}
	return selected, nil
}

// Run consumes until ctx ends, then stops fetching, lets in-flight records finish (up to
// CloseTimeout) and returns nil. It returns an error if a consumer cannot be created, e.g. when
// the streams are not provisioned.
func (n *Normalizer) Run(ctx context.Context) error {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: n.cfg.CloseTimeout}, newRouterLogger(n.logger))
	if err != nil {
		return fmt.Errorf("normalize: %w", err)
	}
	sub, err := bus.NewSubscriber(bus.SubscriberConfig{
		Consumer:     n.consumer,
		Conn:         n.js.Conn(),
		NakDelay:     bus.Backoff{Initial: n.cfg.RetryDelay, Max: n.cfg.RetryMaxDelay},
		Concurrency:  n.cfg.Concurrency,
		AckWait:      n.cfg.AckWait,
		CloseTimeout: n.cfg.CloseTimeout,
		// Settled by bus.Settle on the router's goroutine of each record, not by a goroutine
		// of the Subscriber's per record.
		SettleInHandler: true,
		Logger:          n.logger,
	})
	if err != nil {
		return fmt.Errorf("normalize: %w", err)
	}
	w := startWorkers(runtime.GOMAXPROCS(0))
	// After the router: its handlers are the workers' only callers.
	defer w.stop()
	for _, p := range n.providers {
		name := p.Name()
		dlq, err := bus.DLQ(bus.DLQConfig{
			Publisher:  n.pub,
			Stage:      Stage,
			MaxDeliver: n.cfg.MaxDeliver,
			Provider:   func(*message.Message) string { return name },
			DeadLettered: func(*message.Message, string, string) {
				n.metrics.deadLetters.WithLabelValues(name).Inc()
			},
			Logger: n.logger,
		})
		if err != nil {
			return fmt.Errorf("normalize: %w", err)
		}
		n.metrics.processed.WithLabelValues(name)
		n.metrics.deadLetters.WithLabelValues(name)
		h := router.AddConsumerHandler("normalize-"+name, "raw."+name+".>", sub, n.handler(p, w))
		// The DLQ sits outside the Recoverer so that it sees a panic as RecoveredPanicError;
		// Settle outside both, so that it acks what the DLQ has dead-lettered.
		h.AddMiddleware(bus.Settle, dlq, middleware.Recoverer)
	}

	runErr := router.Run(ctx)
	if runErr != nil && ctx.Err() != nil {
		runErr = nil // cancelled while starting: nothing is in flight
	}
	if runErr != nil {
		// Run failed before or while starting; the router never closes itself then.
		runErr = errors.Join(fmt.Errorf("normalize: %w", runErr), router.Close())
	}
	// The router waited for the handlers; this waits for the acks they asked for.
	if err := sub.Close(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("normalize: %w", err))
	}
	if runErr == nil {
		n.logger.Info("normalizer stopped")
	}
	return runErr
}

// consumer creates or updates the durable consumer of the provider whose raw subjects topic
// ("raw.<provider>.>") covers. Every replica does the same, so the configuration converges.
func (n *Normalizer) consumer(ctx context.Context, topic string) (jetstream.Consumer, error) {
	provider := strings.TrimSuffix(strings.TrimPrefix(topic, "raw."), ".>")
	return n.js.CreateOrUpdateConsumer(ctx, bus.StreamRaw, jetstream.ConsumerConfig{
		Durable:       ConsumerName(provider),
		Description:   "chargeline normalizer of " + provider + " raw records",
		FilterSubject: topic,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       n.cfg.AckWait,
		// Unlimited: a record whose events EVENTS cannot take (NATS down, the stream full) is
		// redelivered until it can, however long that takes; one that keeps failing by itself is
		// dead-lettered by the DLQ middleware on its MaxDeliver-th delivery. A limit here would
		// let JetStream drop the first kind silently.
		MaxDeliver: -1,
	})
}

// handler maps one raw record of p and publishes its events, returning only once every event
// has its PubAck; the router then acks the record. Mapping and checking run on w.
func (n *Normalizer) handler(p providers.Provider, w *workers) message.NoPublishHandlerFunc {
	name := p.Name()
	processed := n.metrics.processed.WithLabelValues(name)
	return func(msg *message.Message) error {
		raw, err := events.ParseRawFunc(bus.Subject(msg), func(k string) string { return bus.HeaderValue(msg, k) }, msg.Payload, bus.StreamSequence(msg))
		if err != nil {
			return fmt.Errorf("%w: %w", events.ErrUnmappable, err)
		}
		if n.tracer != nil {
			return n.traced(msg, p, w, raw, processed)
		}
		return n.normalize(msg, p, w, raw, nil, processed)
	}
}

// traced is normalize in a span. Apart, so that the error the deferred End reads does not move
// to the heap for every record when tracing is off.
func (n *Normalizer) traced(msg *message.Message, p providers.Provider, w *workers, raw events.Raw, processed prometheus.Counter) (err error) {
	span := n.startSpan(msg, raw)
	defer func() { tracing.End(span, err) }()
	return n.normalize(msg, p, w, raw, span, processed)
}

// normalize maps raw on w, sends its events, and waits for their PubAcks.
func (n *Normalizer) normalize(msg *message.Message, p providers.Provider, w *workers, raw events.Raw, span trace.Span, processed prometheus.Counter) error {
	m := &mapping{n: n, p: p, raw: raw, span: span}
	w.do(m)
	if m.err != nil {
		return m.err
	}
	if err := m.wait(msg.Context()); err != nil {
		return fmt.Errorf("normalize: events of %s record %s: %w", raw.Subject(), raw.RecordID, err)
	}
	processed.Inc()
	return nil
}

// mapping is one record's work on a worker: map, check and send its events, and what came of it
// for the handler: the wait for their PubAcks, or the error.
type mapping struct {
	n    *Normalizer
	p    providers.Provider
	raw  events.Raw
	span trace.Span // nil: tracing off
	wait func(context.Context) error
	err  error
}

func (m *mapping) run() {
	out, err := m.n.mapRecord(m.p, m.raw)
	if err != nil {
		m.err = err
		return
	}
	if m.span != nil {
		for _, e := range out {
			tracing.Inject(m.span.SpanContext(), e.Header)
		}
	}
	// Sent in the order Map returned them (so in that order within each subject).
	m.wait = m.n.pub.PublishMsgsAsync(out...)
}

// startSpan starts the span of raw's mapping under the span its ce-traceparent names (a root
// when it names none: a record published without tracing).
func (n *Normalizer) startSpan(msg *message.Message, raw events.Raw) trace.Span {
	parent := tracing.Extract(msg.Metadata.Get)
	_, span := n.tracer.Start(trace.ContextWithRemoteSpanContext(msg.Context(), parent), "map "+raw.Subject(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", raw.Subject()),
			attribute.String("messaging.message.id", raw.ID),
			attribute.Int64("messaging.nats.stream.sequence", int64(raw.Sequence)),
			attribute.String("chargeline.record_id", raw.RecordID),
		))
	return span
}

// mapRecord maps raw with p, checks every event and returns their NATS messages.
func (n *Normalizer) mapRecord(p providers.Provider, raw events.Raw) ([]*nats.Msg, error) {
	start := time.Now()
	evs, err := p.Map(raw)
	n.metrics.mapDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, fmt.Errorf("normalize: map %s record %s: %w", raw.Subject(), raw.RecordID, err)
	}
	out := make([]*nats.Msg, len(evs))
	for i, e := range evs {
		if err := n.check(p.Name(), e); err != nil {
			return nil, fmt.Errorf("%w: %s record %s: event %d: %w", events.ErrUnmappable, raw.Subject(), raw.RecordID, i, err)
		}
		out[i] = events.EventMsg(e)
	}
	return out, nil
}

// check refuses an event no retry can fix: one that is not the provider's, lacks an id, has no
// schema, or (with SchemaValidation) breaks its JSON Schema. The rules of the schema itself were
// checked on the typed data by events.NewEvent.
func (n *Normalizer) check(provider string, e events.Event) error {
	switch {
	case e.Provider != provider:
		return fmt.Errorf("event of provider %q from the %s mapping", e.Provider, provider)
	case e.ID == "":
		return errors.New("event without id")
	case e.Subject == "" || e.Source == "":
		return fmt.Errorf("event %s without ce-subject or ce-source", e.ID)
	case !slices.Contains(n.types, e.Type):
		return fmt.Errorf("event %s has unknown type %q", e.ID, e.Type)
	}
	if n.validators == nil {
		return nil
	}
	if err := eventschema.Validate(n.validators[e.Type], e.Data); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	return nil
}
