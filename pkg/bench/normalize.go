package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
)

// Scratch stream of the normalizer baseline: configured like EVENTS.
const (
	bareEventsStream = "BENCH_EVENTS"
	bareEventsPrefix = "bench."
)

// normalizerScenario: N raw Be-Mo records pre-loaded on RAW, mapped to events by a bare nats.go
// loop (baseline) and by pkg/normalize.
func (h *harness) normalizerScenario(ctx context.Context) ([]Result, error) {
	n := h.cfg.NormalizerRecords
	st, err := h.newStage(ctx, ScenarioNormalizer, 0)
	if err != nil {
		return nil, err
	}
	defer st.close()
	fmt.Fprintf(h.out, "  pre-loading %d raw Be-Mo records on RAW…\n", n)
	if err := preloadRaw(ctx, st, h.cfg.Seed, n); err != nil {
		return nil, err
	}
	workers := runtime.GOMAXPROCS(0)
	resetSvc := func(ctx context.Context) error {
		// EVENTS anew: its duplicate window would drop the events of a second run.
		if err := st.deleteConsumers(ctx, bus.StreamRaw, normalize.ConsumerName(bemo.Name)); err != nil {
			return err
		}
		return st.recreate(ctx, []string{bus.StreamEvents})
	}
	base, svc, err := st.pair(ctx, run{
		scenario: ScenarioNormalizer, name: "normalizer: bare baseline", records: n, baseline: true,
		start: func(ctx context.Context, g *group) error {
			_, js, err := st.connect(ctx, "chargeline-bench-bare-normalizer", 0)
			if err != nil {
				return err
			}
			g.run("bare normalizer", func(ctx context.Context) error { return bareNormalize(ctx, js, workers) })
			return nil
		},
		done: st.streamHolds(bareEventsStream, n),
	}, run{
		scenario: ScenarioNormalizer, name: "normalizer", records: n,
		start: func(ctx context.Context, g *group) error {
			return startNormalizer(ctx, st, g, "chargeline-normalizer", normalize.Config{})
		},
		done: st.streamHolds(bus.StreamEvents, n),
	}, func(ctx context.Context) error {
		if err := st.deleteConsumers(ctx, bus.StreamRaw, bareNormalizeConsumer); err != nil {
			return err
		}
		if err := st.recreate(ctx, []string{bareEventsStream}); err != nil {
			return err
		}
		return st.scratchStream(ctx, bus.StreamEvents, bareEventsStream, bareEventsPrefix+"events.>")
	}, resetSvc, nil)
	if err != nil {
		return nil, err
	}
	base.note("%d goroutines: nats.go Fetch(%d) → ParseRaw → bemo Map → PublishMsgAsync → wait PubAcks → Ack; no schema validation, no DLQ, no watermill", workers, bareNormalizeBatch)
	svc.atMost(fmt.Sprintf("CPU s/1k ≤ %.3f", normalizerMaxCPU), svc.CPUSecondsPer1k, normalizerMaxCPU)
	svc.atLeast(fmt.Sprintf("ratio ≥ %.1f", normalizerMinRatio), deref(svc.Ratio), normalizerMinRatio)
	svc.atMost(fmt.Sprintf("peak RSS ≤ %d MB", normalizerMaxRSSMB), svc.PeakRSSMB, normalizerMaxRSSMB)
	svc.note("service defaults: every event passes its schema's rules (events.NewEvent's typed check) before it is published")

	// The same with the JSON Schema documents validated too (NORMALIZER_SCHEMA_VALIDATION=true):
	// what re-reading every event's JSON costs. Diagnostic: one run.
	if err := resetSvc(ctx); err != nil {
		return nil, err
	}
	full, err := st.measure(ctx, run{
		scenario: ScenarioNormalizer + "-schemavalidation", name: "normalizer, schema documents", records: n,
		start: func(ctx context.Context, g *group) error {
			return startNormalizer(ctx, st, g, "chargeline-normalizer", normalize.Config{SchemaValidation: true})
		},
		done: st.streamHolds(bus.StreamEvents, n),
	})
	if err != nil {
		return nil, err
	}
	full.ratio(base)
	full.note("NORMALIZER_SCHEMA_VALIDATION=true: every event's JSON also validated against its JSON Schema document (diagnostic, one run; the targets apply to the defaults)")
	return []Result{base, svc, full}, nil
}

// startNormalizer starts one pkg/normalize instance for Be-Mo on a connection of its own; the
// zero cfg is the service's defaults.
func startNormalizer(ctx context.Context, st *stage, g *group, name string, cfg normalize.Config) error {
	_, js, err := st.connect(ctx, name, 0)
	if err != nil {
		return err
	}
	n, err := pipeline.NewNormalizer(cfg, []providers.Provider{bemo.Provider{}}, js, pipeline.Env{Logger: st.h.logger.With("component", name)})
	if err != nil {
		return err
	}
	g.run(name, n.Run)
	return nil
}

// preloadRaw publishes n raw Be-Mo records on RAW, as the poller would.
func preloadRaw(ctx context.Context, st *stage, seed int64, n int) error {
	recs, err := genRecords(seed, n)
	if err != nil {
		return err
	}
	err = publish(ctx, st.js, n, runtime.GOMAXPROCS(0), func(i int) (*nats.Msg, error) {
		return events.RawMsg(recs[i].raw()), nil
	})
	if err != nil {
		return err
	}
	return waitFor(ctx, st.streamHolds(bus.StreamRaw, n))
}

const (
	bareNormalizeBatch    = 256
	bareNormalizeConsumer = "bench-bare-normalizer"
)

// bareNormalize is the normalizer's ceiling: workers goroutines share one durable consumer;
// each fetches a batch, maps every record with bemo's Map, publishes the events asynchronously
// to the scratch stream, waits for their PubAcks and acknowledges the batch. It runs until ctx
// ends.
func bareNormalize(ctx context.Context, js jetstream.JetStream, workers int) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamRaw, jetstream.ConsumerConfig{
		Durable: bareNormalizeConsumer, FilterSubject: "raw.bemo.>", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: 2 * workers * bareNormalizeBatch,
	})
	if err != nil {
		return err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range workers {
		wg.Go(func() {
			if err := bareNormalizeLoop(ctx, js, cons); err != nil && ctx.Err() == nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func bareNormalizeLoop(ctx context.Context, js jetstream.JetStream, cons jetstream.Consumer) error {
	p := bemo.Provider{}
	var (
		msgs []jetstream.Msg
		futs []jetstream.PubAckFuture
	)
	for ctx.Err() == nil {
		batch, err := cons.Fetch(bareNormalizeBatch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		msgs, futs = msgs[:0], futs[:0]
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			raw, err := events.ParseRaw(m.Subject(), m.Headers(), m.Data(), meta.Sequence.Stream)
			if err != nil {
				return err
			}
			evs, err := p.Map(raw)
			if err != nil {
				return err
			}
			for _, e := range evs {
				em := events.EventMsg(e)
				em.Subject = bareEventsPrefix + em.Subject
				f, err := js.PublishMsgAsync(em)
				if err != nil {
					return err
				}
				futs = append(futs, f)
			}
			msgs = append(msgs, m)
		}
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		for _, m := range msgs {
			if err := m.Ack(); err != nil {
				return err
			}
		}
	}
	return nil
}
