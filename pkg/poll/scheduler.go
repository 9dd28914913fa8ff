package poll

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/tracing"
)

// Config tunes a Scheduler. The zero value of every field is a working default.
type Config struct {
	Provider string // required: raw.<provider>.*
	// Interval is the pause between two polls of a scope; default 1m.
	Interval time.Duration
	// Window bounds the publishes awaiting their PubAck; default 1024.
	Window int
	// CommitEvery is how many acknowledged records may pass between checkpoint writes; window
	// ends (markers) are always committed at once. Default 1000.
	CommitEvery int
	// LeaseTTL must equal the poller_leases bucket TTL; the lease is renewed every third of it.
	LeaseTTL time.Duration
	// Holder names this replica in the lease bucket; default host-pid-random.
	Holder string
	// Backoff governs publish retries (a full stream, a NATS restart).
	Backoff Backoff
	// DrainTimeout bounds how long a stopping poller waits for in-flight PubAcks; default 10s.
	DrainTimeout time.Duration
	Now          func() time.Time
	// Tracing, when set, makes each poll of a scope a span and gives every raw record the span
	// of the page it came from as its ce-traceparent (see NewTransport). Nil: no tracing.
	Tracing trace.TracerProvider
}

// Settings declares the scheduler's settings.
// DefaultWindow is the publishes awaiting their PubAck at once (POLL_PUBLISH_WINDOW).
const DefaultWindow = 1024

func Settings() []config.Setting {
	return []config.Setting{
		{Name: "provider", Env: "POLLER_PROVIDER", Required: true, Usage: "provider to poll (bemo, …)"},
		{Name: "poll-interval", Env: "POLL_INTERVAL", Kind: config.Duration, Default: "1m", Min: int64(100 * time.Millisecond), Usage: "pause between two polls of a scope"},
		{Name: "publish-window", Env: "POLL_PUBLISH_WINDOW", Kind: config.Int, Default: strconv.Itoa(DefaultWindow), Min: 1, Usage: "publishes awaiting their PubAck at once"},
		{Name: "checkpoint-every", Env: "POLL_CHECKPOINT_EVERY", Kind: config.Int, Default: "1000", Min: 1, Usage: "acknowledged records between checkpoint writes"},
	}
}

// ConfigFrom reads Settings and the lease TTL from v.
func ConfigFrom(v config.Values) Config {
	return Config{
		Provider:    v.String("provider"),
		Interval:    v.Duration("poll-interval"),
		Window:      v.Int("publish-window"),
		CommitEvery: v.Int("checkpoint-every"),
		LeaseTTL:    v.Duration("lease-ttl"),
	}
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.CommitEvery <= 0 {
		c.CommitEvery = 1000
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.Holder == "" {
		host, _ := os.Hostname()
		c.Holder = host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(rand.Uint64()%1e6, 10)
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	if c.Provider == "" {
		return fmt.Errorf("%w: --provider/POLLER_PROVIDER is required", config.ErrInvalid)
	}
	return nil
}

// Scheduler polls every scope of one provider's Source: one goroutine per scope, each holding
// the scope's lease while it polls.
type Scheduler struct {
	cfg     Config
	src     Source
	js      jetstream.JetStream
	cps     *Checkpoints
	leases  jetstream.KeyValue
	gaps    *Gaps
	objects jetstream.ObjectStore // poller_oversized
	logger  *slog.Logger
	metrics *metrics
	tracer  trace.Tracer // nil: tracing off
}

// NewScheduler returns a scheduler publishing src's records with js. The streams and buckets
// must be provisioned (bus.Provision). logger may be nil; reg may be nil.
func NewScheduler(ctx context.Context, cfg Config, src Source, js jetstream.JetStream, logger *slog.Logger, reg prometheus.Registerer) (*Scheduler, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("poll: invalid config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cps, err := js.KeyValue(ctx, bus.BucketCheckpoints)
	if err != nil {
		return nil, fmt.Errorf("poll: open bucket %s: %w", bus.BucketCheckpoints, err)
	}
	leases, err := js.KeyValue(ctx, bus.BucketLeases)
	if err != nil {
		return nil, fmt.Errorf("poll: open bucket %s: %w", bus.BucketLeases, err)
	}
	gaps, err := OpenGaps(ctx, js)
	if err != nil {
		return nil, err
	}
	objects, err := js.ObjectStore(ctx, bus.ObjectsOversized)
	if err != nil {
		return nil, fmt.Errorf("poll: open object store %s: %w", bus.ObjectsOversized, err)
	}
	return &Scheduler{
		cfg: cfg, src: src, js: js, cps: NewCheckpoints(cps), leases: leases, gaps: gaps, objects: objects,
		logger: logger.With(slog.String("provider", cfg.Provider)), metrics: newMetrics(reg, cfg.Now),
		tracer: tracing.Tracer(cfg.Tracing, "pkg/poll"),
	}, nil
}

// Run polls every scope until ctx is cancelled, then lets in-flight publishes finish, commits
// their checkpoints, releases the leases and returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	scopes, err := s.scopes(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, scope := range scopes {
		wg.Go(func() { s.runScope(ctx, scope) })
	}
	wg.Wait()
	return nil
}

// RunOnce polls every scope once, skipping scopes whose lease another replica holds, and
// returns the scopes' errors joined. Tests and backfills use it.
func (s *Scheduler) RunOnce(ctx context.Context) error {
	scopes, err := s.scopes(ctx)
	if err != nil {
		return err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, scope := range scopes {
		wg.Go(func() {
			err := s.once(ctx, scope)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Scheduler) scopes(ctx context.Context) ([]string, error) {
	scopes, err := s.src.Scopes(ctx)
	if err != nil {
		return nil, fmt.Errorf("poll: %s scopes: %w", s.cfg.Provider, err)
	}
	if len(scopes) == 0 {
		return nil, fmt.Errorf("poll: %s has no scopes to poll: %w", s.cfg.Provider, config.ErrInvalid)
	}
	return scopes, nil
}

func (s *Scheduler) once(ctx context.Context, scope string) error {
	lease, err := Acquire(ctx, s.leases, s.cfg.Provider, scope, s.cfg.Holder)
	if err != nil {
		return err
	}
	defer s.release(ctx, lease)
	return s.cycle(ctx, scope)
}

// runScope owns one scope for the scheduler's lifetime: it waits for the lease, polls every
// Interval while holding it, and gives it up on shutdown.
func (s *Scheduler) runScope(ctx context.Context, scope string) {
	log := s.logger.With(slog.String("scope", scope))
	for ctx.Err() == nil {
		lease, err := Acquire(ctx, s.leases, s.cfg.Provider, scope, s.cfg.Holder)
		switch {
		case errors.Is(err, ErrLeaseHeld):
			log.Debug("lease held by another poller")
			sleep(ctx, s.cfg.LeaseTTL/2)
			continue
		case err != nil:
			log.Warn("lease unavailable", slog.String("error", err.Error()))
			sleep(ctx, s.cfg.LeaseTTL/2)
			continue
		}
		log.Info("lease acquired")
		s.hold(ctx, scope, lease, log)
		s.release(ctx, lease)
	}
}

// hold polls the scope every Interval until ctx ends or the lease is lost.
func (s *Scheduler) hold(ctx context.Context, scope string, lease *Lease, log *slog.Logger) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		s.renew(lctx, lease, log, cancel)
	}()
	defer func() { cancel(); <-renewed }()

	var lastErr string
	for lctx.Err() == nil {
		err := s.cycle(lctx, scope)
		switch {
		case err == nil:
			if lastErr != "" {
				log.Info("polling recovered")
			}
			lastErr = ""
		case lctx.Err() != nil:
			return
		case errors.Is(err, ErrConflict):
			log.Warn("scope taken over by another poller", slog.String("error", err.Error()))
			return
		default:
			// Report a failure once per streak: an expired token must not flood the log, but the
			// operator must see it (and the metric keeps counting).
			if err.Error() != lastErr {
				lvl := slog.LevelWarn
				if errors.Is(err, ErrAuth) || errors.Is(err, ErrPermanent) {
					lvl = slog.LevelError
				}
				log.Log(lctx, lvl, "poll failed; next attempt after the poll interval", slog.String("error", err.Error()))
				lastErr = err.Error()
			}
		}
		sleep(lctx, s.cfg.Interval)
	}
}

func (s *Scheduler) renew(ctx context.Context, lease *Lease, log *slog.Logger, lost context.CancelFunc) {
	t := time.NewTicker(s.cfg.LeaseTTL / 3)
	defer t.Stop()
	last := s.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := lease.Renew(ctx)
		switch {
		case err == nil:
			last = s.cfg.Now()
		case errors.Is(err, ErrConflict):
			log.Warn("lease lost", slog.String("error", err.Error()))
			lost()
			return
		default:
			// NATS may be restarting: keep trying, but stop polling before the TTL could let
			// another replica in while we still work.
			if s.cfg.Now().Sub(last) > s.cfg.LeaseTTL*2/3 {
				log.Warn("lease could not be renewed in time", slog.String("error", err.Error()))
				lost()
				return
			}
		}
	}
}

func (s *Scheduler) release(ctx context.Context, lease *Lease) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := lease.Release(rctx); err != nil {
		s.logger.Warn("lease release", slog.String("error", err.Error()))
	}
}

// cycle polls one scope from its checkpoint until the source is caught up.
func (s *Scheduler) cycle(ctx context.Context, scope string) (err error) {
	started := s.cfg.Now()
	var page *pageTrace
	if s.tracer != nil {
		var span trace.Span
		ctx, span = s.tracer.Start(ctx, "poll "+s.cfg.Provider+" "+scope, trace.WithAttributes(
			attribute.String("chargeline.provider", s.cfg.Provider), attribute.String("chargeline.scope", scope)))
		ctx, page = withPageTrace(ctx, span.SpanContext())
		defer func() { tracing.End(span, err) }()
	}
	cp, rev, written, err := s.cps.get(ctx, s.cfg.Provider, scope)
	if err != nil {
		return err
	}
	if !written.IsZero() {
		s.metrics.checkpointAge.set(s.cfg.Provider, scope, written)
	}
	ctx = withErrorObserver(ctx, func(pe ProviderError) {
		status, code := errorLabels(pe)
		s.metrics.providerErrors.WithLabelValues(s.cfg.Provider, status, code).Inc()
	})
	// Draining in-flight acks and committing must survive the cancellation that stops Fetch;
	// each commit, and the final drain, gets DrainTimeout of its own (a poll may last hours).
	p := &pipeline{
		js: s.js, window: s.cfg.Window, backoff: s.cfg.Backoff, commitEvery: s.cfg.CommitEvery,
		commit: func(ctx context.Context, next Checkpoint) error {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DrainTimeout)
			defer cancel()
			r, err := s.cps.Set(cctx, s.cfg.Provider, scope, next, rev)
			if err != nil {
				return err
			}
			rev = r
			now := s.cfg.Now()
			s.metrics.checkpointTime.WithLabelValues(s.cfg.Provider, scope).Set(float64(now.Unix()))
			s.metrics.checkpointAge.set(s.cfg.Provider, scope, now)
			return nil
		},
		tooLarge: func(ctx context.Context, msg *nats.Msg, err error) error {
			return s.oversized(ctx, scope, msg, s.js.Conn().MaxPayload(), err)
		},
	}
	// A record larger than this cannot be a RAW message (nats.go refuses it before sending);
	// the server may lower it on a reconnect, so it is read per poll.
	maxPayload := int(s.js.Conn().MaxPayload())
	published := 0
	// The fetched counter of the last resource seen: a source emits one resource at a time, and
	// looking the child up by its labels for every record costs more than the increment.
	var (
		fetched         prometheus.Counter
		fetchedResource string
	)
	fetchErr := s.src.Fetch(ctx, scope, cp, func(r Record) error {
		if r.Gap != nil {
			// Durable before the marker is queued: the checkpoint cannot pass a gap unrecorded.
			if err := s.recordGap(ctx, scope, *r.Gap); err != nil {
				return err
			}
			return p.publish(ctx, nil, r.Next)
		}
		if r.Data == nil {
			return p.publish(ctx, nil, r.Next)
		}
		raw := events.Raw{
			ID:        events.RawID(s.cfg.Provider, r.Resource, r.ID, r.Data),
			Provider:  s.cfg.Provider,
			Resource:  r.Resource,
			Scope:     scope,
			RecordID:  r.ID,
			FetchedAt: s.cfg.Now(),
			Data:      r.Data,
		}
		if fetched == nil || r.Resource != fetchedResource {
			fetched, fetchedResource = s.metrics.fetched.WithLabelValues(s.cfg.Provider, r.Resource), r.Resource
		}
		fetched.Inc()
		msg := events.RawMsg(raw)
		if page != nil {
			tracing.Inject(page.get(), msg.Header)
		}
		// Headers are a few hundred bytes: only a record near the limit is measured exactly.
		if len(r.Data)+4096 > maxPayload {
			if n := msgSize(msg); n > maxPayload {
				if err := s.oversized(ctx, scope, msg, int64(maxPayload), nats.ErrMaxPayload); err != nil {
					return err
				}
				return p.publish(ctx, nil, r.Next)
			}
		}
		published++
		return p.publish(ctx, msg, r.Next)
	})
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DrainTimeout)
	defer cancel()
	drainErr := p.drain(dctx)
	s.metrics.published.WithLabelValues(s.cfg.Provider).Add(float64(p.acked))
	if fetchErr != nil {
		observeError(ctx, fetchErr) // a provider error that did not pass through Retry
		s.metrics.errors.WithLabelValues(s.cfg.Provider, errorKind(fetchErr)).Inc()
		return errors.Join(fmt.Errorf("poll: %s/%s: %w", s.cfg.Provider, scope, fetchErr), drainErr)
	}
	if drainErr != nil {
		return fmt.Errorf("poll: %s/%s: %w", s.cfg.Provider, scope, drainErr)
	}
	s.metrics.succeeded.WithLabelValues(s.cfg.Provider, scope).Set(float64(s.cfg.Now().Unix()))
	s.logger.Debug("scope polled", slog.String("scope", scope), slog.Int("records", published),
		slog.Duration("took", s.cfg.Now().Sub(started)))
	return nil
}

// oversized keeps a record the bus cannot take: its bytes go to the poller_oversized object
// store under its raw id, a gap is recorded, and the scope moves on past it (retrying would
// stall the scope on that record forever).
func (s *Scheduler) oversized(ctx context.Context, scope string, msg *nats.Msg, limit int64, cause error) error {
	raw, err := events.ParseRaw(msg.Subject, msg.Header, msg.Data, 0)
	if err != nil {
		return fmt.Errorf("poll: oversized record: %w", err)
	}
	meta := jetstream.ObjectMeta{
		Name:        raw.ID,
		Description: fmt.Sprintf("%s %s %s of scope %s, too large for RAW", raw.Provider, raw.Resource, raw.RecordID, raw.Scope),
		Headers:     nats.Header{events.HeaderSubject: {raw.RecordID}, events.HeaderScope: {raw.Scope}, events.HeaderResource: {raw.Resource}, events.HeaderFetchedAt: {raw.FetchedAt.UTC().Format(time.RFC3339Nano)}},
	}
	err = Retry(ctx, s.cfg.Backoff, func(ctx context.Context) error {
		if _, err := s.objects.Put(ctx, meta, bytes.NewReader(raw.Data)); err != nil {
			return &TemporaryError{Err: err}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("poll: keep oversized %s %s in %s: %w", raw.Resource, raw.RecordID, bus.ObjectsOversized, err)
	}
	return s.recordGap(ctx, scope, Gap{
		Kind: GapOversized, Resource: raw.Resource, RecordID: raw.RecordID,
		Size: msgSize(msg), Limit: int(limit), Object: raw.ID, Detail: cause.Error(),
	})
}

// recordGap makes g durable in the poller_gaps bucket, counts it and logs it: provider data
// that analysts will miss must never pass without a signal.
func (s *Scheduler) recordGap(ctx context.Context, scope string, g Gap) error {
	g.Provider, g.Scope = s.cfg.Provider, scope
	if g.Found.IsZero() {
		g.Found = s.cfg.Now().UTC()
	}
	err := Retry(ctx, s.cfg.Backoff, func(ctx context.Context) error {
		if err := s.gaps.Record(ctx, g); err != nil {
			return &TemporaryError{Err: err}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.metrics.gaps.WithLabelValues(s.cfg.Provider, g.Kind).Inc()
	s.logger.Warn("provider data not ingested: gap recorded", slog.String("scope", scope), slog.String("kind", g.Kind),
		slog.String("resource", g.Resource), slog.String("record_id", g.RecordID), slog.String("gap", g.Describe()))
	return nil
}

func errorKind(err error) string {
	switch {
	case errors.Is(err, ErrAuth):
		return "auth"
	case errors.Is(err, ErrPermanent):
		return "permanent"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "temporary"
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
