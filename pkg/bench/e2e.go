package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/sink"
)

// e2eScenario: M Be-Mo sessions behind the simulated API → rows in ClickHouse, with the poller,
// the normalizer and the sink running together. Its ratio is to the bare stages run one after
// the other (1 / Σ 1/rate of the three baselines of this run), when they ran.
func (h *harness) e2eScenario(ctx context.Context, baselines map[string]Result) ([]Result, error) {
	n := h.cfg.E2ERecords
	st, err := h.newStage(ctx, ScenarioE2E, n)
	if err != nil {
		return nil, err
	}
	defer st.close()
	svc, err := st.measure(ctx, run{
		scenario: ScenarioE2E, name: "end to end", records: n,
		start: func(ctx context.Context, g *group) error { return startPipeline(ctx, st, g, nil) },
		done:  h.tablesHold(n, sink.TableChargingSessions, sink.TableRawRecords),
	})
	if err != nil {
		return nil, err
	}
	var inv float64
	names := []string{ScenarioSink, ScenarioNormalizer, ScenarioPoller}
	for _, s := range names {
		if b, ok := baselines[s]; ok && b.RecordsPerSecond > 0 {
			inv += 1 / b.RecordsPerSecond
		}
	}
	if inv > 0 && len(baselines) == len(names) {
		chain := Result{Name: "bare stages in series", RecordsPerSecond: 1 / inv}
		svc.ratio(chain)
		// What the same work costs done by nats.go and clickhouse-go alone: below the pipeline's
		// CPU per record no change to its own code can go.
		var cpu, nats float64
		for _, s := range names {
			cpu += baselines[s].CPUSecondsPer1k
			nats += baselines[s].InfraCPUSecondsPer1k
		}
		svc.note("the bare stages in series: %.3f s CPU + %.3f s NATS per 1k records = %.3f all in (without the sink's raw_records archive, a second stream read and insert)", cpu, nats, cpu+nats)
	}
	svc.atMost(fmt.Sprintf("CPU + NATS CPU s/1k ≤ %.2f", e2eMaxCPUAllIn), round(svc.CPUSecondsPer1k+svc.InfraCPUSecondsPer1k, 4), e2eMaxCPUAllIn)
	svc.atLeast(fmt.Sprintf("records/s ≥ %d", e2eMinRate), svc.RecordsPerSecond, e2eMinRate)
	svc.note("done when charging_sessions and raw_records both hold every record (plain count() polled every %s)", pollEvery)
	if err := h.checkExact(ctx, &svc, n, sink.TableChargingSessions, sink.TableRawRecords); err != nil {
		return nil, err
	}
	return []Result{svc}, nil
}

// startPipeline starts a sink, a normalizer and a Be-Mo poller, each on a connection of its own
// and at its service's defaults, all traced by tp when it is not nil.
func startPipeline(ctx context.Context, st *stage, g *group, tp trace.TracerProvider) error {
	if err := startSink(ctx, st, g, "chargeline-sink", sink.Config{Tracing: tp}); err != nil {
		return err
	}
	if err := startNormalizer(ctx, st, g, "chargeline-normalizer", normalize.Config{Tracing: tp}); err != nil {
		return err
	}
	return startPoller(ctx, st, g, tp)
}

// latencyWatchEvery is how often the latency run looks for new rows: the resolution of every
// latency, which it can only overstate.
const latencyWatchEvery = 20 * time.Millisecond

// latencyScenario publishes raw Be-Mo records at a steady rate with the normalizer and the sink
// running, and measures for each record the time from its publish to its row being visible in
// charging_sessions.
//
// Each record's publish time is kept by its RAW stream sequence (from the PubAck); the canonical
// row carries that sequence as raw_sequence. A watcher asks ClickHouse every latencyWatchEvery
// for the raw_sequence values above the highest one below which every record has been seen, and
// dates each new one at the moment the query returned.
func (h *harness) latencyScenario(ctx context.Context) ([]Result, error) {
	rate, dur := h.cfg.LatencyRate, h.cfg.LatencyDuration
	n := int(float64(rate) * dur.Seconds())
	const warm = 100
	st, err := h.newStage(ctx, ScenarioLatency, 0)
	if err != nil {
		return nil, err
	}
	defer st.close()
	recs, err := genRecords(h.cfg.Seed, warm+n)
	if err != nil {
		return nil, err
	}
	_, js, err := st.connect(ctx, "chargeline-bench-publisher", 4*pollWindow)
	if err != nil {
		return nil, err
	}
	// The services run from the start; a few records first make sure their consumers exist and
	// ClickHouse answered once, so the measured records see a warm pipeline.
	g := newGroup()
	defer g.stop()
	if err := startSink(ctx, st, g, "chargeline-sink", sink.Config{BatchAge: h.cfg.LatencyBatchAge}); err != nil {
		return nil, err
	}
	if err := startNormalizer(ctx, st, g, "chargeline-normalizer", normalize.Config{}); err != nil {
		return nil, err
	}
	for _, r := range recs[:warm] {
		if _, err := js.PublishMsg(ctx, events.RawMsg(r.raw())); err != nil {
			return nil, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = waitFor(wctx, h.tablesHold(warm, sink.TableChargingSessions))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bench: latency warm-up: %w", err)
	}

	lat := &latencies{sent: make([]time.Time, warm+n+1), visible: make([]time.Time, warm+n+1), low: warm}
	svc, err := st.measure(ctx, run{
		scenario: ScenarioLatency, name: fmt.Sprintf("latency at %d/s", rate), records: n,
		start: func(ctx context.Context, pg *group) error {
			pg.run("publisher", func(ctx context.Context) error { return steadyPublish(ctx, js, recs[warm:], rate, lat) })
			return nil
		},
		done: func(ctx context.Context) (uint64, uint64, error) {
			if err := g.failed(); err != nil {
				return 0, 0, err
			}
			return lat.watch(ctx, h, warm+n)
		},
	})
	if err != nil {
		return nil, err
	}
	p50, p99, missing := lat.percentiles(warm + 1)
	svc.P50Millis, svc.P99Millis = &p50, &p99
	if missing > 0 {
		svc.note("%d records without a publish time or a visible time were left out of the percentiles", missing)
	}
	svc.atMost(fmt.Sprintf("p99 ≤ %d ms", latencyMaxP99Millis), p99, latencyMaxP99Millis)
	svc.note("raw records published by the harness at a fixed rate (its CPU counts here) to the normalizer (defaults) and the sink (defaults but SINK_BATCH_AGE=%s); latency resolution %s", h.cfg.LatencyBatchAge, latencyWatchEvery)
	if err := h.checkExact(ctx, &svc, warm+n, sink.TableChargingSessions); err != nil {
		return nil, err
	}
	return []Result{svc}, nil
}

// latencies records publish and visible times by RAW stream sequence.
type latencies struct {
	mu      sync.Mutex
	sent    []time.Time
	visible []time.Time
	low     uint64 // every sequence ≤ low is visible
	last    time.Time
}

// steadyPublish publishes recs at rate records/s, keeping each one's publish time by the stream
// sequence its PubAck reports.
func steadyPublish(ctx context.Context, js jetstream.JetStream, recs []record, rate int, lat *latencies) error {
	type pending struct {
		at  time.Time
		fut jetstream.PubAckFuture
	}
	acks := make(chan pending, 4*pollWindow)
	errc := make(chan error, 1)
	go func() {
		var err error
		for p := range acks {
			if err != nil {
				continue
			}
			select {
			case ack := <-p.fut.Ok():
				lat.mu.Lock()
				if ack.Sequence < uint64(len(lat.sent)) {
					lat.sent[ack.Sequence] = p.at
				}
				lat.mu.Unlock()
			case e := <-p.fut.Err():
				err = e
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		errc <- err
	}()
	start := time.Now()
	var err error
	for i := 0; i < len(recs) && err == nil; {
		due := min(len(recs), int(time.Since(start).Seconds()*float64(rate))+1)
		for ; i < due && err == nil; i++ {
			m := events.RawMsg(recs[i].raw())
			at := time.Now()
			var f jetstream.PubAckFuture
			for {
				// A full pending window (NATS slower than the rate) holds the publisher back.
				f, err = js.PublishMsgAsync(m)
				if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || ctx.Err() != nil {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if err == nil {
				acks <- pending{at: at, fut: f}
			}
		}
		if i < len(recs) && err == nil {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / float64(rate) * float64(time.Second)))))
			err = ctx.Err()
		}
	}
	close(acks)
	if aerr := <-errc; err == nil {
		err = aerr
	}
	return err
}

// watch looks for new rows at most once per latencyWatchEvery and reports up to which RAW
// sequence every row is visible, of total.
func (l *latencies) watch(ctx context.Context, h *harness, total int) (uint64, uint64, error) {
	if time.Since(l.last) < latencyWatchEvery {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.low, uint64(total), nil
	}
	l.last = time.Now()
	rows, err := h.conn.Query(ctx, fmt.Sprintf("SELECT raw_sequence FROM %s.%s WHERE raw_sequence > %d", sink.Database, sink.TableChargingSessions, l.low))
	if err != nil {
		return 0, 0, err
	}
	var seqs []uint64
	for rows.Next() {
		var s uint64
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return 0, 0, err
		}
		seqs = append(seqs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range seqs {
		if s < uint64(len(l.visible)) && l.visible[s].IsZero() {
			l.visible[s] = now
		}
	}
	for l.low+1 < uint64(len(l.visible)) && !l.visible[l.low+1].IsZero() {
		l.low++
	}
	return l.low, uint64(total), nil
}

// percentiles returns p50 and p99, in milliseconds, of the sequences from first on, and how many
// lack a publish or visible time.
func (l *latencies) percentiles(first int) (p50, p99 float64, missing int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d []time.Duration
	for s := first; s < len(l.sent); s++ {
		if l.sent[s].IsZero() || l.visible[s].IsZero() {
			missing++
			continue
		}
		d = append(d, l.visible[s].Sub(l.sent[s]))
	}
	if len(d) == 0 {
		return 0, 0, missing
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		i := min(len(d)-1, int(q*float64(len(d))))
		return round(float64(d[i])/float64(time.Millisecond), 1)
	}
	return at(0.50), at(0.99), missing
}
