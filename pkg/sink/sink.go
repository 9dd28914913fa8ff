package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/chargeline/chargeline/pkg/tracing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
)

// Sink consumes EVENTS and RAW and writes them into ClickHouse. Create it with New, call
// Migrate (or rely on chargectl migrate), then Run; Close releases the ClickHouse connections.
type Sink struct {
	cfg  Config
	js   jetstream.JetStream
	conn driver.Conn
	log  *slog.Logger
	m    *metrics
	// tracer is nil when tracing is off.
	tracer trace.Tracer

	// afterInsert, when set (tests), runs after a chunk was inserted and before its messages
	// are acknowledged; an error it returns ends Run at once, as a crash would.
	afterInsert func(table string, rows int) error
}

// New validates cfg and opens the ClickHouse connection pool (without dialing). logger nil
// discards logs; reg nil registers no metrics. Errors for a bad cfg wrap config.ErrInvalid.
func New(cfg Config, js jetstream.JetStream, logger *slog.Logger, reg prometheus.Registerer) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if js == nil {
		return nil, errors.New("sink: New needs a JetStream")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	conn, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	return &Sink{cfg: cfg, js: js, conn: conn, log: logger, m: m, tracer: tracing.Tracer(cfg.Tracing, "pkg/sink")}, nil
}

// Conn returns the sink's ClickHouse connection pool.
func (s *Sink) Conn() driver.Conn { return s.conn }

// Migrate applies the embedded migrations (see the package functions Migrate and, when
// Config.Cluster is set, MigrateCluster). While ClickHouse is unreachable it retries with
// backoff until ctx ends; a statement ClickHouse refuses is returned at once.
func (s *Sink) Migrate(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		var err error
		if s.cfg.Cluster != "" {
			_, err = MigrateCluster(ctx, s.conn, s.cfg.Cluster, s.log)
		} else {
			_, err = Migrate(ctx, s.conn, s.log)
		}
		if err == nil || classify(err) == kindRefused {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("sink: migrate: %w", ctx.Err())
		}
		s.log.Warn("clickhouse unavailable; retrying migrations", slog.Int("attempt", attempt),
			slog.String("error", scrubPassword(err.Error(), s.cfg.Password.Reveal())))
		if err := sleep(ctx, s.backoff(attempt)); err != nil {
			return fmt.Errorf("sink: migrate: %w", err)
		}
	}
}

// Ping checks that ClickHouse answers (for /readyz). The error never holds a password.
func (s *Sink) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("sink: clickhouse %s: %s", config.Redact(s.cfg.DSN), scrubPassword(err.Error(), s.cfg.Password.Reveal()))
	}
	return nil
}

// Close closes the ClickHouse connections; call it after Run returned.
func (s *Sink) Close() error { return s.conn.Close() }

// Run consumes until ctx ends, then flushes and acknowledges what it holds (bounded by
// Config.ShutdownTimeout), waits until the server has received the acknowledgements, and
// returns nil. It creates or updates its durable consumers first.
// It returns an error only when it cannot create them or a consumer loop fails for good; an
// outage of ClickHouse or NATS is waited out, not returned.
func (s *Sink) Run(ctx context.Context) error {
	loops := make([]*loop, 0, 2)
	for _, c := range []struct{ stream, name, filter string }{
		{bus.StreamEvents, s.cfg.EventsConsumer, "events.>"},
		{bus.StreamRaw, s.cfg.RawConsumer, "raw.>"},
	} {
		cons, err := s.consumer(ctx, c.stream, c.name, c.filter)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		loops = append(loops, s.newLoop(c.stream, c.name, c.filter, cons))
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errs := make([]error, len(loops))
	var wg sync.WaitGroup
	for i, l := range loops {
		wg.Go(func() {
			if errs[i] = l.run(ctx); errs[i] != nil {
				cancel(errs[i]) // the other loop shuts down cleanly
			}
		})
	}
	wg.Wait()
	// Acks are buffered by the connection: a process that exits right after Run returns (a
	// SIGTERM) would lose those of the last batch, and JetStream would deliver its rows again.
	// A flush (PING/PONG) returns once the server has read everything written before it.
	if nc := s.js.Conn(); !nc.IsConnected() {
		s.log.Warn("acknowledgements not confirmed at shutdown (NATS unreachable); JetStream may redeliver those messages")
	} else if err := nc.FlushTimeout(s.cfg.ShutdownTimeout); err != nil {
		s.log.Warn("acknowledgements not confirmed at shutdown; JetStream may redeliver those messages", slog.String("error", err.Error()))
	}
	return errors.Join(errs...)
}

// consumer creates or updates a durable pull consumer. MaxAckPending leaves room for a full
// batch in every table plus the acknowledgements still in flight.
func (s *Sink) consumer(ctx context.Context, stream, name, filter string) (jetstream.Consumer, error) {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "chargeline sink: " + filter + " into ClickHouse",
		FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    -1, // a message is never dropped: undecodable ones go to the DLQ
		MaxAckPending: 2 * s.cfg.BatchRows,
	})
	if err != nil {
		return nil, fmt.Errorf("sink: create consumer %s on %s: %w", name, stream, err)
	}
	return cons, nil
}

// backoff returns the wait before retry attempt n (1-based): exponential from RetryMin to
// RetryMax with jitter, never longer than a third of AckWait so keep-alives go out in time.
func (s *Sink) backoff(n int) time.Duration {
	d := s.cfg.RetryMin
	for i := 1; i < n && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RetryMax, s.cfg.AckWait/3)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
