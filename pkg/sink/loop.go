package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/chargeline/chargeline/pkg/tracing"
)

// maxFetchWait bounds one pull request, so a cancelled Run stops fetching within it.
const maxFetchWait = time.Second

// insertTimeout bounds one insert: a connection that hangs (a server stopped mid-insert) counts
// as an outage and is retried, instead of stalling the loop.
const insertTimeout = 60 * time.Second

// item is a message the loop holds until its row is inserted (or dead-lettered) and acked.
type item struct {
	msg      jetstream.Msg
	src      source
	ceID     string
	attempts uint64 // deliveries so far
	row      row
	size     int
}

// loop is one consumer: it fetches, batches per table, inserts and acknowledges. It is owned by
// one goroutine.
type loop struct {
	s        *Sink
	stream   string
	name     string
	filter   string
	cons     jetstream.Consumer
	tables   []string                   // flush order
	batches  map[string]*Batcher[*item] // rows not yet sent
	inflight map[string][][]*item       // chunks taken for insert, not yet acknowledged
	held     int                        // messages in batches and inflight
	cols     map[string][]string        // per table, the columns of the last row decoded
	alive    time.Time                  // last InProgress sweep
	pending  *pending                   // a first insert running while the loop fetches on
	log      *slog.Logger
}

// pending is the first insert of a table's head chunk in flight, on a goroutine of its own: the
// loop decodes the next batch while ClickHouse takes this one (the two used to take turns, each
// leaving a core idle). Only the loop's goroutine touches the chunk's messages and acks them, once
// the insert has returned.
type pending struct {
	table string
	rows  int
	start time.Time
	done  chan error
}

func (s *Sink) newLoop(stream, name, filter string, cons jetstream.Consumer) *loop {
	tables := []string{TableRawRecords}
	if stream == "EVENTS" {
		tables = []string{TableChargingSessions, TableInvoices, TableCostCenters, TableInvoiceLines}
	}
	l := &loop{
		s: s, stream: stream, name: name, filter: filter, cons: cons, tables: tables,
		batches:  map[string]*Batcher[*item]{},
		inflight: map[string][][]*item{},
		cols:     map[string][]string{},
		log:      s.log.With(slog.String("stream", stream), slog.String("consumer", name)),
	}
	for _, t := range tables {
		l.batches[t] = &Batcher[*item]{MaxRows: s.cfg.BatchRows, MaxBytes: s.cfg.BatchBytes, MaxAge: s.cfg.BatchAge}
	}
	return l
}

// errCrash ends Run without the shutdown flush (the test hook's way to simulate a crash).
var errCrash = errors.New("sink: stopped before acknowledging")

func (l *loop) run(ctx context.Context) error {
	fails := 0
	for ctx.Err() == nil {
		// A pending insert that hangs (a frozen server) must not let its messages' AckWait run
		// out while the loop fetches on: JetStream would deliver them again, to this loop too.
		l.keepAlive(time.Now())
		if err := l.flush(ctx, false); err != nil {
			if errors.Is(err, errCrash) {
				return err
			}
			continue // ctx ended while retrying: shut down below
		}
		// Room for one batch beside the one being inserted (MaxAckPending is twice BatchRows).
		want := l.s.cfg.BatchRows - (l.held - l.pendingRows())
		if want < 1 {
			if err := l.collect(ctx, true); errors.Is(err, errCrash) {
				return err
			}
			continue // the insert has returned: flush takes it from here
		}
		batch, err := l.cons.Fetch(want, jetstream.FetchMaxWait(l.fetchWait(time.Now())))
		if err == nil {
			for msg := range batch.Messages() {
				if err := l.add(ctx, msg); err != nil {
					break // ctx ended while dead-lettering
				}
				// One fetch can bring more bytes than --batch-bytes: insert a full batch at
				// once rather than after the fetch.
				if l.full() {
					if err := l.flush(ctx, false); errors.Is(err, errCrash) {
						return err
					} else if err != nil {
						break
					}
				}
			}
			err = batch.Error()
		}
		if err == nil || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
			fails = 0
			continue
		}
		if ctx.Err() != nil {
			break
		}
		fails++
		l.log.Warn("fetch failed", slog.String("error", err.Error()), slog.Int("attempt", fails))
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
			if cons, cerr := l.s.consumer(ctx, l.stream, l.name, l.filter); cerr == nil {
				l.cons = cons
			}
		}
		l.keepAlive(time.Now())
		_ = sleep(ctx, l.s.backoff(fails))
	}

	// Shutdown: no more fetching; insert and acknowledge what is held, within the timeout.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.s.cfg.ShutdownTimeout)
	defer cancel()
	err := l.flush(sctx, true)
	if errors.Is(err, errCrash) {
		return err
	}
	if l.held > 0 {
		l.log.Warn("stopped with rows not inserted; JetStream redelivers them", slog.Int("rows", l.held))
	}
	return nil
}

// full reports whether a table's batch reached its rows or bytes limit.
func (l *loop) full() bool {
	for _, t := range l.tables {
		if l.batches[t].Full() {
			return true
		}
	}
	return false
}

// fetchWait is how long the next pull may wait: until the oldest batch is due, at most
// BatchAge and maxFetchWait, at least 10ms. A pull returns only when it is full or its wait is
// over, so a message arriving early in it waits for the rest: bounding the wait by BatchAge keeps
// a row's wait within twice BatchAge even when every batch is empty (before, up to maxFetchWait
// plus BatchAge, whatever BatchAge said).
func (l *loop) fetchWait(now time.Time) time.Duration {
	wait := min(maxFetchWait, l.s.cfg.BatchAge)
	for _, t := range l.tables {
		if dl, ok := l.batches[t].Deadline(); ok {
			wait = min(wait, dl.Sub(now))
		}
	}
	return max(wait, 10*time.Millisecond)
}

// add decodes a message into its table's batch; an undecodable one is dead-lettered at once.
// It returns an error only when ctx ended before the message was handled.
func (l *loop) add(ctx context.Context, msg jetstream.Msg) error {
	it := &item{msg: msg, size: len(msg.Data())}
	for k, vs := range msg.Headers() {
		it.size += len(k)
		for _, v := range vs {
			it.size += len(v)
		}
	}
	it.src = source{subject: msg.Subject(), header: msg.Headers(), data: msg.Data(), provider: subjectProvider(msg.Subject())}
	if meta, err := msg.Metadata(); err == nil {
		it.src.seq, it.src.stored, it.attempts = meta.Sequence.Stream, meta.Timestamp, meta.NumDelivered
	}
	it.ceID = it.src.header.Get("ce-id")
	r, err := decodeWith(it.src, l.cols)
	if err != nil {
		table := tableFor(it.src.subject)
		if table == "" {
			table = "unknown"
		}
		l.s.m.errors.WithLabelValues(table, kindDecode).Inc()
		l.held++
		defer func() { l.held-- }()
		return l.deadLetter(ctx, table, it, err)
	}
	it.row = r
	l.batches[r.table].Add(it, it.size, time.Now())
	l.held++
	return nil
}

// flush inserts every batch that is due (all of them at shutdown, or when the loop holds a
// full batch's worth of messages besides a pending insert) and whatever is in flight from an
// earlier attempt. A table's only chunk goes to a pending insert, and the loop fetches on; the
// rest is inserted here. At shutdown it waits for the pending insert and inserts everything
// here. It returns nil when all it inserted is acknowledged, ctx's error when ctx ended first,
// errCrash from the hook.
func (l *loop) flush(ctx context.Context, shutdown bool) error {
	if err := l.collect(ctx, shutdown); err != nil {
		return err
	}
	now := time.Now()
	full := l.held-l.pendingRows() >= l.s.cfg.BatchRows
	for _, t := range l.tables {
		if b := l.batches[t]; b.Len() > 0 && (shutdown || full || b.Due(now)) {
			l.inflight[t] = append(l.inflight[t], b.Take())
		}
		switch {
		case len(l.inflight[t]) == 0:
		case l.pending != nil && l.pending.table == t:
			// Its head chunk is being inserted; the chunks behind it wait for the outcome.
		case !shutdown && l.pending == nil && len(l.inflight[t]) == 1:
			l.startInsert(ctx, t)
		default:
			if err := l.drain(ctx, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// startInsert inserts the table's head chunk on a goroutine. The insert outlives a cancelled
// ctx (bounded by insertTimeout) so that a shutdown collects its outcome instead of redoing it.
func (l *loop) startInsert(ctx context.Context, table string) {
	chunk := l.inflight[table][0]
	rows := make([]row, len(chunk))
	for i, it := range chunk {
		rows[i] = it.row
	}
	p := &pending{table: table, rows: len(chunk), start: time.Now(), done: make(chan error, 1)}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), insertTimeout)
	go func() {
		defer cancel()
		p.done <- l.insert(ictx, table, chunk, rows)
	}()
	l.pending = p
}

// collect settles the pending insert once it has returned (waiting for it when block): success
// acknowledges its chunk; a failure leaves the chunk at the head of its table's in-flight list,
// where drain retries it like any failed insert (backoff for an outage, splitting for a refused
// row). It returns ctx's error if ctx ends while waiting, errCrash from the hook.
func (l *loop) collect(ctx context.Context, block bool) error {
	p := l.pending
	if p == nil {
		return nil
	}
	var err error
	if block {
		var werr error
		if err, werr = l.await(ctx, p.done); werr != nil {
			return werr
		}
	} else {
		select {
		case err = <-p.done:
		default:
			return nil
		}
	}
	l.pending = nil
	l.s.m.duration.WithLabelValues(p.table).Observe(time.Since(p.start).Seconds())
	if err != nil {
		l.log.Debug("insert failed; retrying", slog.String("table", p.table), slog.Int("rows", p.rows), slog.String("error", err.Error()))
		return nil
	}
	return l.inserted(ctx, p.table)
}

// await waits for an insert's outcome on done, or until ctx ends (werr). An insert may hang
// until insertTimeout (a frozen server), longer than AckWait: the held messages are kept alive
// meanwhile, so that JetStream does not hand them out again.
func (l *loop) await(ctx context.Context, done <-chan error) (err, werr error) {
	tick := time.NewTicker(max(l.s.cfg.AckWait/3, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err, nil
		case now := <-tick.C:
			l.keepAlive(now)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// pendingRows is how many held messages the pending insert covers.
func (l *loop) pendingRows() int {
	if l.pending == nil {
		return 0
	}
	return l.pending.rows
}

// inserted acknowledges the table's head chunk, which ClickHouse has taken, and drops it.
func (l *loop) inserted(ctx context.Context, table string) error {
	chunk := l.inflight[table][0]
	l.s.m.rows.WithLabelValues(table).Add(float64(len(chunk)))
	l.s.m.batchRows.WithLabelValues(table).Observe(float64(len(chunk)))
	size := 0
	for _, it := range chunk {
		size += it.size
	}
	l.s.m.batchBytes.WithLabelValues(table).Observe(float64(size))
	if h := l.s.afterInsert; h != nil {
		if herr := h(table, len(chunk)); herr != nil {
			return fmt.Errorf("%w: %w", errCrash, herr)
		}
	}
	l.log.LogAttrs(ctx, slog.LevelDebug, "batch inserted", slog.String("table", table), slog.Int("rows", len(chunk)))
	for _, it := range chunk {
		l.ack(it)
	}
	// Clear the slot: the backing array would keep the acknowledged chunk (messages and rows)
	// alive while the next batch fills.
	l.inflight[table][0] = nil
	l.inflight[table] = l.inflight[table][1:]
	return nil
}

// drain inserts the table's in-flight chunks. A chunk ClickHouse refuses is split in halves
// until the refused row stands alone, which is dead-lettered; an outage is retried with backoff
// while the held messages are kept alive with InProgress.
func (l *loop) drain(ctx context.Context, table string) error {
	attempt := 0
	for len(l.inflight[table]) > 0 {
		chunk := l.inflight[table][0]
		rows := make([]row, len(chunk))
		for i, it := range chunk {
			rows[i] = it.row
		}
		start := time.Now()
		ictx, cancel := context.WithTimeout(ctx, insertTimeout)
		done := make(chan error, 1)
		go func() { done <- l.insert(ictx, table, chunk, rows) }()
		err, _ := l.await(context.WithoutCancel(ctx), done) // the insert itself ends with ctx
		cancel()
		l.s.m.duration.WithLabelValues(table).Observe(time.Since(start).Seconds())
		if err == nil {
			if err := l.inserted(ctx, table); err != nil {
				return err
			}
			attempt = 0
			continue
		}
		kind := classify(err)
		if ctx.Err() != nil {
			return ctx.Err() // the insert failed because we are stopping
		}
		l.s.m.errors.WithLabelValues(table, kind).Inc()
		if kind == kindRefused {
			rest := l.inflight[table][1:]
			var ae *appendError
			switch {
			case errors.As(err, &ae) || len(chunk) == 1:
				i := 0
				if ae != nil {
					i = ae.index
				}
				if derr := l.deadLetter(ctx, table, chunk[i], err); derr != nil {
					return derr
				}
				if others := slices.Delete(slices.Clone(chunk), i, i+1); len(others) > 0 {
					rest = append([][]*item{others}, rest...)
				}
				l.held--
			default:
				h := len(chunk) / 2
				rest = append([][]*item{chunk[:h], chunk[h:]}, rest...)
			}
			l.inflight[table] = rest
			continue
		}
		attempt++
		wait := l.s.backoff(attempt)
		if attempt == 1 || attempt%10 == 0 {
			l.log.Warn("clickhouse unavailable; retrying without acknowledging", slog.String("table", table),
				slog.Int("rows", len(chunk)), slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String("error", err.Error()))
		}
		l.keepAlive(time.Now())
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	return nil
}

// insert inserts rows, the rows of chunk, into table: a span of its own when tracing is on. It
// runs on the insert's goroutine and only reads the chunk's headers.
func (l *loop) insert(ctx context.Context, table string, chunk []*item, rows []row) (err error) {
	if l.s.tracer != nil {
		var span trace.Span
		ctx, span = l.traceInsert(ctx, table, chunk)
		defer func() { tracing.End(span, err) }()
	}
	return insert(ctx, l.s.conn, table, rows)
}

// traceInsert starts the span of inserting chunk. A batch has as many parents as rows: its
// parent is the first sampled span a row's ce-traceparent names (so a sampled record's trace
// shows the insert that wrote its row), and every other one is a link, each span once (the
// records of a page share its span).
func (l *loop) traceInsert(ctx context.Context, table string, chunk []*item) (context.Context, trace.Span) {
	var (
		parent trace.SpanContext
		links  []trace.Link
		last   trace.SpanID
	)
	for _, it := range chunk {
		sc := tracing.Extract(it.src.header.Get)
		if !sc.IsSampled() || sc.SpanID() == last {
			continue
		}
		last = sc.SpanID()
		if !parent.IsValid() {
			parent = sc
			continue
		}
		links = append(links, trace.Link{SpanContext: sc})
	}
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return l.s.tracer.Start(ctx, "insert "+table, trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("db.system.name", "clickhouse"),
			attribute.String("db.collection.name", table),
			attribute.String("db.operation.name", "INSERT"),
			attribute.Int("db.operation.batch.size", len(chunk)),
			attribute.String("messaging.consumer.group.name", l.name),
		))
}

func (l *loop) ack(it *item) {
	// Ack, not AckSync: should the acknowledgement be lost, JetStream redelivers the message
	// and the table key absorbs the second row.
	if err := it.msg.Ack(); err != nil {
		l.log.Debug("ack failed; message will be redelivered", slog.Uint64("stream_seq", it.src.seq), slog.String("error", err.Error()))
	}
	l.held--
}

// keepAlive tells JetStream that the held messages are still being worked on, at most every
// third of AckWait, so a long outage does not turn into redeliveries.
func (l *loop) keepAlive(now time.Time) {
	if now.Sub(l.alive) < l.s.cfg.AckWait/3 {
		return
	}
	l.alive = now
	for _, t := range l.tables {
		for _, it := range l.batches[t].Items() {
			_ = it.msg.InProgress()
		}
		for _, chunk := range l.inflight[t] {
			for _, it := range chunk {
				_ = it.msg.InProgress()
			}
		}
	}
}
