package chaos

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
)

// Faults are scheduled at points of progress rather than of time, so the same seed kills a
// service at the same share of its work on a fast machine and a slow one, and a fault never
// lands after the work it should interrupt is over.

// gauge names what a fault's progress is measured on.
type gauge string

const (
	gaugeRaw    gauge = "raw"    // messages on RAW (all providers) per expected record
	gaugeEvents gauge = "events" // messages on EVENTS per expected record
	gaugeSink   gauge = "sink"   // EVENTS messages the sink acknowledged per expected record
)

// pollerGauge is the progress of one provider's poller: its RAW messages per expected record.
func pollerGauge(provider string) gauge { return gauge("raw." + provider) }

// action is one fault: it fires once its gauge reaches at.
type action struct {
	at    float64
	gauge gauge
	what  string
	do    func(ctx context.Context) error
}

// lane is a sequence of actions on one target, fired in order.
type lane struct {
	name    string
	actions []action
}

// progress is the latest reading of every gauge.
type progress struct {
	mu       sync.Mutex
	expected map[string]int    // truth.Records per provider
	raw      map[string]uint64 // RAW messages per provider
	events   uint64
	sinkDone uint64
	idle     bool // everything expected reached the sink and no consumer has work
}

func (p *progress) value(g gauge) (float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.expected == nil {
		return 0, false // the ground truth is not known yet
	}
	total := 0
	for _, n := range p.expected {
		total += n
	}
	frac := func(n uint64, of int) float64 {
		if of <= 0 {
			return 1
		}
		return float64(n) / float64(of)
	}
	switch {
	case g == gaugeRaw:
		var n uint64
		for _, v := range p.raw {
			n += v
		}
		return frac(n, total), p.idle
	case g == gaugeEvents:
		return frac(p.events, total), p.idle
	case g == gaugeSink:
		return frac(p.sinkDone, total), p.idle
	case strings.HasPrefix(string(g), "raw."):
		name := strings.TrimPrefix(string(g), "raw.")
		return frac(p.raw[name], p.expected[name]), p.idle
	}
	return 1, p.idle
}

// watch refreshes pr every 250ms until ctx ends; readings that fail (NATS restarting) keep the
// last ones.
func (s *stack) watch(ctx context.Context, pr *progress) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastTruth := time.Time{}
	for {
		if time.Since(lastTruth) > 3*time.Second {
			if t, err := s.truth(ctx); err == nil {
				pr.mu.Lock()
				pr.expected = map[string]int{}
				for name, tr := range t {
					pr.expected[name] = tr.Records
				}
				pr.mu.Unlock()
				lastTruth = time.Now()
			}
		}
		s.read(ctx, pr)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *stack) read(ctx context.Context, pr *progress) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	raw := map[string]uint64{}
	st, err := s.js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		return
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("raw.>"))
	if err != nil {
		return
	}
	for subj, n := range info.State.Subjects {
		raw[bus.ProviderOf(subj)] += n
	}
	ev, err := s.js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return
	}
	evInfo, err := ev.Info(ctx)
	if err != nil {
		return
	}
	var done uint64
	if c, err := s.js.Consumer(ctx, bus.StreamEvents, "sink-events"); err == nil {
		if ci, err := c.Info(ctx); err == nil {
			busy := ci.NumPending + uint64(ci.NumAckPending)
			if evInfo.State.Msgs > busy {
				done = evInfo.State.Msgs - busy
			}
		}
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.raw, pr.events = raw, evInfo.State.Msgs
	if done > pr.sinkDone {
		pr.sinkDone = done
	}
	total := 0
	for _, n := range pr.expected {
		total += n
	}
	pr.idle = total > 0 && pr.sinkDone >= uint64(total) && done == evInfo.State.Msgs
}

// runLanes fires every lane's actions in order, lanes at once. An action fires when its gauge
// reaches its point, or at once when the pipeline is idle (all work done: the remaining faults
// still hit it, and it must recover again). Failed actions are logged and skipped.
func runLanes(ctx context.Context, lanes []lane, pr *progress, logf func(string, ...any)) {
	var wg sync.WaitGroup
	for _, l := range lanes {
		wg.Go(func() {
			for _, a := range l.actions {
				for {
					v, idle := pr.value(a.gauge)
					if v >= a.at || idle {
						break
					}
					select {
					case <-ctx.Done():
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
				if err := a.do(ctx); err != nil {
					logf("%s: %s failed: %v", l.name, a.what, err)
				}
			}
		})
	}
	wg.Wait()
}

// points returns n sorted random points of progress between 5% and 90%.
func points(rng *rand.Rand, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = 0.05 + 0.85*rng.Float64()
	}
	slices.Sort(out)
	return out
}

// between returns a random duration in [lo, hi).
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}
