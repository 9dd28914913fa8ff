package bench

import (
	"context"
	"fmt"

	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/sink"
)

// scalingScenario: N raw records pre-loaded on RAW, normalized and sunk by one normalizer and one
// sink, then (fresh NATS, empty tables) by two of each sharing their durable consumers. Every
// record must be in ClickHouse exactly once: plain count() = count() FINAL = N.
func (h *harness) scalingScenario(ctx context.Context) ([]Result, error) {
	n := h.cfg.ScalingRecords
	var out []Result
	for _, instances := range []int{1, 2} {
		name := fmt.Sprintf("scaling: %d normalizer + %d sink", instances, instances)
		if instances > 1 {
			name = fmt.Sprintf("scaling: %d normalizers + %d sinks", instances, instances)
		}
		r, err := h.scalingRun(ctx, name, n, instances)
		if err != nil {
			return nil, err
		}
		if instances > 1 {
			r.ratio(out[0])
			r.note("ratio: combined rate of %d instances each to one of each; both use the 2 cores of this machine", instances)
		} else {
			r.Baseline = true
		}
		out = append(out, r)
	}
	return out, nil
}

func (h *harness) scalingRun(ctx context.Context, name string, n, instances int) (Result, error) {
	st, err := h.newStage(ctx, fmt.Sprintf("%s-%d", ScenarioScaling, instances), 0)
	if err != nil {
		return Result{}, err
	}
	defer st.close()
	fmt.Fprintf(h.out, "  pre-loading %d raw Be-Mo records on RAW…\n", n)
	if err := preloadRaw(ctx, st, h.cfg.Seed, n); err != nil {
		return Result{}, err
	}
	r, err := st.measure(ctx, run{
		scenario: ScenarioScaling, name: name, records: n, baseline: instances == 1,
		start: func(ctx context.Context, g *group) error {
			for i := range instances {
				if err := startNormalizer(ctx, st, g, fmt.Sprintf("chargeline-normalizer-%d", i+1), normalize.Config{}); err != nil {
					return err
				}
				if err := startSink(ctx, st, g, fmt.Sprintf("chargeline-sink-%d", i+1), sink.Config{}); err != nil {
					return err
				}
			}
			return nil
		},
		done: h.tablesHold(n, sink.TableChargingSessions, sink.TableRawRecords),
	})
	if err != nil {
		return Result{}, err
	}
	if err := h.checkExact(ctx, &r, n, sink.TableChargingSessions, sink.TableRawRecords); err != nil {
		return Result{}, err
	}
	return r, nil
}
