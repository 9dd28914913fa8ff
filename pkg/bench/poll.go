package bench

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/nats-io/nats.go"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
)

// Scratch stream of the poller baseline: configured like RAW.
const bareRawStream = "BENCH_RAW"

// pollWindow is the poller's default publish window (POLL_PUBLISH_WINDOW).
const pollWindow = 1024

// pollerScenario: N Be-Mo sessions behind the simulated API, fetched and published to RAW by
// pkg/poll's scheduler with the bemo source; the baseline publishes the same messages with a
// bare PublishMsgAsync loop.
func (h *harness) pollerScenario(ctx context.Context) ([]Result, error) {
	n := h.cfg.PollerRecords
	st, err := h.newStage(ctx, ScenarioPoller, n)
	if err != nil {
		return nil, err
	}
	defer st.close()
	// The baseline's messages are built before each baseline run and dropped before each
	// service run, so that they count in neither's time nor the service's memory.
	var msgs []*nats.Msg
	base, svc, err := st.pair(ctx, run{
		scenario: ScenarioPoller, name: "poller: bare baseline", records: n, baseline: true,
		start: func(ctx context.Context, g *group) error {
			_, js, err := st.connect(ctx, "chargeline-bench-bare-poller", pollWindow)
			if err != nil {
				return err
			}
			g.run("bare publisher", func(ctx context.Context) error {
				for _, m := range msgs {
					if err := publishAsync(ctx, js, m); err != nil {
						return err
					}
				}
				return nil
			})
			return nil
		},
		done: st.streamHolds(bareRawStream, n),
	}, run{
		scenario: ScenarioPoller, name: "poller", records: n,
		start: func(ctx context.Context, g *group) error { return startPoller(ctx, st, g, nil) },
		done:  st.streamHolds(bus.StreamRaw, n),
	}, func(ctx context.Context) error {
		recs, err := genRecords(h.cfg.Seed, n)
		if err != nil {
			return err
		}
		msgs = make([]*nats.Msg, n)
		for i, r := range recs {
			msgs[i] = events.RawMsg(r.raw())
			msgs[i].Subject = bareEventsPrefix + msgs[i].Subject
		}
		if err := st.recreate(ctx, []string{bareRawStream}); err != nil {
			return err
		}
		return st.scratchStream(ctx, bus.StreamRaw, bareRawStream, bareEventsPrefix+"raw.>")
	}, func(ctx context.Context) error {
		msgs = nil
		// RAW and the checkpoints anew: a second run must fetch and store everything again.
		return st.recreate(ctx, []string{bus.StreamRaw}, bus.BucketCheckpoints, bus.BucketLeases)
	}, nil)
	if err != nil {
		return nil, err
	}
	base.note("one goroutine: PublishMsgAsync of the same messages (built beforehand, so their memory counts here) with %d PubAcks pending at most", pollWindow)
	svc.atLeast(fmt.Sprintf("ratio ≥ %.1f", pollerMinRatio), deref(svc.Ratio), pollerMinRatio)
	svc.note("bemo source and client over HTTP against the simulator's sessions replayed by the infra child (%d accounts, one-day windows, BEMO_PAGE_SIZE default)", len(bemo.SimAccounts()))
	return []Result{base, svc}, nil
}

// startPoller starts a Be-Mo poller pointed at the stage's Be-Mo API, at the poller service's
// defaults, on a connection of its own.
func startPoller(ctx context.Context, st *stage, g *group, tp trace.TracerProvider) error {
	cfg, err := pipeline.SimPollerConfig(bemo.Provider{Now: func() time.Time { return sourceNow }}, st.in.bemoURL)
	if err != nil {
		return err
	}
	_, js, err := st.connect(ctx, "chargeline-poller-bemo", cfg.MaxPending())
	if err != nil {
		return err
	}
	sched, err := pipeline.NewPoller(ctx, cfg, js, pipeline.Env{Logger: st.h.logger.With("component", "poller"), Tracing: tp})
	if err != nil {
		return err
	}
	g.run("poller", sched.Run)
	return nil
}
