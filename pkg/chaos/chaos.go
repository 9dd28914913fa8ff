package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/process"
	"github.com/chargeline/chargeline/pkg/providers"
)

// Result is one scenario's verdict.
type Result struct {
	Scenario   string
	Records    int // records the simulators hold (the ground truth), all providers
	Lost       int
	Duplicated int
	DLQ        int // injected poison records found in the DLQ as expected
	Poison     int // poison records injected
	Pending    uint64
	Seconds    float64 // from the services' start until the pipeline had caught up
	Providers  []ProviderResult
	// Replicas compares each ClickHouse replica's own tables on a cluster (nil otherwise).
	Replicas []ReplicaResult
	// Faults lists what was injected, in order.
	Faults []string
	// Crashes counts, per process, the ends nobody asked for (a service giving up on its own).
	Crashes map[string][]string
	// Failures says everything that is wrong; empty when the scenario passed.
	Failures []string
	// Reasons are the dead letters' chargeline-error by poison record id.
	Reasons map[string]string
}

// OK reports whether nothing was lost, doubled, left pending or dead-lettered unexpectedly.
func (r Result) OK() bool { return len(r.Failures) == 0 }

// Run runs every scenario of cfg, one after the other, each on a fresh pipeline, and returns
// their results. An error means the harness itself could not run (a binary that does not
// build, a server that does not start); what the pipeline does wrong is in the results.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("chaos: wipe %s: %w", cfg.Dir, err)
	}
	binDir := cfg.BinDir
	if binDir == "" {
		binDir = filepath.Join(cfg.Dir, "bin")
		fmt.Fprintf(cfg.Out, "building %s into %s\n", strings.Join(Packages(), ", "), binDir)
		if err := process.Build(ctx, cfg.ModuleDir, binDir, Packages()...); err != nil {
			return nil, err
		}
	}
	var results []Result
	for i, sc := range cfg.Scenarios {
		res, err := runScenario(ctx, cfg, binDir, sc, cfg.Seed+int64(i))
		if err != nil {
			return results, fmt.Errorf("chaos: scenario %s: %w", sc.Name, err)
		}
		results = append(results, res)
	}
	return results, nil
}

func runScenario(ctx context.Context, cfg Config, binDir string, sc Scenario, seed int64) (Result, error) {
	dir := filepath.Join(cfg.Dir, sc.Name)
	start := time.Now()
	var logMu sync.Mutex
	logf := func(format string, a ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(cfg.Out, "[%s %6.1fs] %s\n", sc.Name, time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	res := Result{Scenario: sc.Name, Crashes: map[string][]string{}}
	var faultsMu sync.Mutex
	fault := func(format string, a ...any) {
		s := fmt.Sprintf(format, a...)
		faultsMu.Lock()
		res.Faults = append(res.Faults, fmt.Sprintf("%6.1fs %s", time.Since(start).Seconds(), s))
		faultsMu.Unlock()
		logf("%s", s)
	}

	perProvider := (cfg.Records + len(providers.All()) - 1) / len(providers.All())
	s, err := startStack(ctx, dir, binDir, sc, cfg.Cluster, perProvider, seed, logf)
	if err != nil {
		return res, err
	}
	defer s.stop(cfg.StopTimeout)
	logf("pipeline up: NATS %s, ClickHouse %s, simulators http://%s, %d records per provider; logs in %s",
		s.natsURL, s.chAddr(), s.simAddr, perProvider, filepath.Join(dir, "logs"))
	started := time.Now()

	pr := &progress{}
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); s.watch(wctx, pr) }()
	defer func() { stopWatch(); <-watched }()

	var names []string
	for _, p := range providers.All() {
		names = append(names, p.Name())
	}
	var poison []events.Raw
	if sc.Poison {
		poison = PoisonRecords(names, time.Now())
	}
	var problemsMu sync.Mutex
	var problems []string
	problem := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		problemsMu.Lock()
		problems = append(problems, msg)
		problemsMu.Unlock()
		logf("PROBLEM: %s", msg)
	}
	lanes := plan(s, sc, poison, rand.New(rand.NewPCG(uint64(seed), 0xc4a05)), cfg.StopTimeout, fault, problem)

	// The faults, then the wait for the pipeline to catch up, are bounded together.
	lctx, cancel := context.WithTimeout(ctx, cfg.SettleTimeout)
	defer cancel()
	runLanes(lctx, lanes, pr, logf)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	logf("faults done; waiting for the pipeline to catch up")

	v := s.settle(lctx, poison, logf)
	res.Seconds = time.Since(started).Seconds()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.Records, res.Providers, res.Pending, res.Replicas = v.records, v.providers, v.pending, v.replicas
	res.Poison, res.DLQ, res.Reasons = len(poison), v.dlq.found, v.dlq.reasons
	res.Failures = append(v.failures(), problems...)
	for _, p := range v.providers {
		res.Lost += p.Lost
		res.Duplicated += p.Duplicated
	}

	// A graceful stop must flush, acknowledge and exit 0 in bounded time.
	for _, st := range s.stopServices(cfg.StopTimeout) {
		switch {
		case errors.Is(st.err, process.ErrStopTimeout):
			res.Failures = append(res.Failures, fmt.Sprintf("%s did not exit within %s of SIGTERM", st.name, cfg.StopTimeout))
		case st.err != nil:
			res.Failures = append(res.Failures, fmt.Sprintf("%s on SIGTERM: %v", st.name, st.err))
		}
	}
	// What a stopping service acknowledged must have reached the server.
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, busy, err := pending(pctx, s.js); err != nil {
		res.Failures = append(res.Failures, "consumers after the services stopped: "+err.Error())
	} else {
		for _, b := range busy {
			res.Failures = append(res.Failures, "after every service stopped: "+b)
		}
	}
	for name, p := range s.services {
		if c := p.Crashes(); len(c) > 0 {
			res.Crashes[name] = c
		}
	}
	for _, p := range s.nats {
		if c := p.Crashes(); len(c) > 0 {
			res.Crashes[p.Name()] = c
		}
	}
	if c := s.sim.Crashes(); len(c) > 0 {
		res.Crashes["providersim"] = c
		res.Failures = append(res.Failures, "providersim crashed: the ground truth may be off")
	}
	return res, nil
}

// plan draws the scenario's faults: per service sc.Kills kills and sc.Restarts graceful
// restarts at random points of its own work, NATS restarts and kills at points of the
// normalizer's progress, the ClickHouse outage at a point of the sink's, and the poison at a
// point of the pollers'. problem records what a fault reveals (a graceful stop that fails).
func plan(s *stack, sc Scenario, poison []events.Raw, rng *rand.Rand, stopTimeout time.Duration, fault, problem func(string, ...any)) []lane {
	var lanes []lane
	for _, name := range s.order {
		if sc.Kills+sc.Restarts+sc.Pauses == 0 {
			break
		}
		g := gaugeSink
		switch {
		case strings.HasPrefix(name, "normalizer"):
			g = gaugeEvents
		case strings.HasPrefix(name, "poller-"):
			provider, _, _ := strings.Cut(strings.TrimPrefix(name, "poller-"), "-")
			g = pollerGauge(provider)
		}
		kinds := shuffled(rng, sc.Restarts, sc.Kills)
		kinds = append(kinds, slices.Repeat([]bool{false}, sc.Pauses)...)
		pauses := append(slices.Repeat([]bool{false}, sc.Restarts+sc.Kills), slices.Repeat([]bool{true}, sc.Pauses)...)
		rng.Shuffle(len(kinds), func(i, j int) {
			kinds[i], kinds[j] = kinds[j], kinds[i]
			pauses[i], pauses[j] = pauses[j], pauses[i]
		})
		l := lane{name: name}
		for i, at := range points(rng, len(kinds)) {
			kill := kinds[i]
			if pauses[i] {
				p := s.services[name]
				l.actions = append(l.actions, action{at: at, gauge: g, what: "pause", do: func(ctx context.Context) error {
					fault("freeze %s (SIGSTOP) at %.0f%% of %s for %s", name, 100*at, g, pauseFor)
					pid, err := p.Pause(ctx, pauseFor)
					if err != nil {
						return err
					}
					fault("continue %s (pid %d, SIGCONT)", name, pid)
					return nil
				}})
				continue
			}
			delay := between(rng, 0, 3*time.Second)
			uptime := between(rng, time.Second, 4*time.Second)
			p := s.services[name]
			what := "SIGTERM"
			if kill {
				what = "kill -9"
			}
			l.actions = append(l.actions, action{at: at, gauge: g, what: what, do: func(ctx context.Context) error {
				if kill {
					d, err := p.Kill(ctx, delay)
					if err != nil {
						return err
					}
					fault("kill -9 %s (pid %d) at %.0f%% of %s; restart in %s", name, d.PID, 100*at, g, delay.Round(time.Millisecond))
					return waitRestart(ctx, d.Restarted, uptime)
				}
				d, err := p.Term(ctx, delay)
				if err != nil {
					return err
				}
				fault("SIGTERM %s (pid %d) at %.0f%% of %s; restart in %s", name, d.PID, 100*at, g, delay.Round(time.Millisecond))
				checkGracefulExit(d, name, stopTimeout, problem)
				return waitRestart(ctx, d.Restarted, uptime)
			}})
		}
		lanes = append(lanes, l)
	}
	if n := sc.NATSRestarts + sc.NATSKills + sc.NATSPauses; n > 0 {
		nats := s.nats[0] // a single server: Validate refuses these faults on a cluster
		l := lane{name: "nats-server"}
		kinds := shuffled(rng, sc.NATSRestarts, sc.NATSKills)
		kinds = append(kinds, slices.Repeat([]bool{false}, sc.NATSPauses)...)
		pauses := append(slices.Repeat([]bool{false}, sc.NATSRestarts+sc.NATSKills), slices.Repeat([]bool{true}, sc.NATSPauses)...)
		rng.Shuffle(len(kinds), func(i, j int) {
			kinds[i], kinds[j] = kinds[j], kinds[i]
			pauses[i], pauses[j] = pauses[j], pauses[i]
		})
		for i, at := range points(rng, n) {
			kill, pause := kinds[i], pauses[i]
			delay := between(rng, time.Second, 4*time.Second)
			l.actions = append(l.actions, action{at: at, gauge: gaugeEvents, what: "restart", do: func(ctx context.Context) error {
				if pause {
					fault("freeze nats-server (SIGSTOP) at %.0f%% of events for %s", 100*at, pauseFor)
					if _, err := nats.Pause(ctx, pauseFor); err != nil {
						return err
					}
					fault("continue nats-server (SIGCONT)")
					return nil
				}
				what, stop := "restart (SIGTERM)", nats.Term
				if kill {
					what, stop = "kill -9", nats.Kill
				}
				d, err := stop(ctx, delay)
				if err != nil {
					return err
				}
				fault("%s nats-server (pid %d) at %.0f%% of events; back in %s", what, d.PID, 100*at, delay.Round(time.Millisecond))
				if !kill {
					checkGracefulExit(d, "nats-server", stopTimeout, problem)
				}
				return waitRestart(ctx, d.Restarted, 5*time.Second)
			}})
		}
		lanes = append(lanes, l)
	}
	if sc.ClickHouseOutage > 0 || sc.ClickHouseKills > 0 {
		l := lane{name: "clickhouse"}
		n := sc.ClickHouseKills
		if sc.ClickHouseOutage > 0 {
			n++
		}
		outageAt := rng.IntN(n) // which of the points is the outage
		for i, at := range points(rng, n) {
			if i == outageAt && sc.ClickHouseOutage > 0 {
				l.actions = append(l.actions, action{at: at, gauge: gaugeSink, what: "outage", do: func(ctx context.Context) error {
					fault("stop ClickHouse at %.0f%% of the sink's progress, for %s", 100*at, sc.ClickHouseOutage)
					return s.clickhouseDown(ctx, s.ch.Stop, sc.ClickHouseOutage, fault)
				}})
				continue
			}
			down := between(rng, time.Second, 5*time.Second)
			l.actions = append(l.actions, action{at: at, gauge: gaugeSink, what: "kill -9", do: func(ctx context.Context) error {
				fault("kill -9 ClickHouse at %.0f%% of the sink's progress; start again in %s", 100*at, down.Round(time.Millisecond))
				return s.clickhouseDown(ctx, s.ch.Kill, down, fault)
			}})
		}
		lanes = append(lanes, l)
	}
	lanes = append(lanes, planCluster(s, sc, rng, fault)...)
	if sc.StreamsFull > 0 {
		at := points(rng, 1)[0]
		lanes = append(lanes, lane{name: "streams", actions: []action{{at: at, gauge: gaugeEvents, what: "full", do: func(ctx context.Context) error {
			fault("RAW and EVENTS full (byte limit = what they hold) at %.0f%% of events, for %s", 100*at, sc.StreamsFull)
			undo, err := fillStreams(ctx, s.js)
			if err != nil {
				return err
			}
			select {
			case <-ctx.Done():
			case <-time.After(sc.StreamsFull):
			}
			if err := undo(context.WithoutCancel(ctx)); err != nil {
				return err
			}
			fault("RAW and EVENTS limits lifted")
			return nil
		}}}})
	}
	if len(poison) > 0 {
		at := points(rng, 1)[0]
		lanes = append(lanes, lane{name: "poison", actions: []action{{at: at, gauge: gaugeRaw, what: "poison", do: func(ctx context.Context) error {
			fault("publish %d poison records (%s) at %.0f%% of raw", len(poison), poisonIDs(poison), 100*at)
			return publishPoison(ctx, s.js, poison)
		}}}})
	}
	return lanes
}

// pauseFor is how long a frozen service stays frozen: longer than its leases (leaseTTL) and its
// consumers' ack wait, so other replicas take its work over meanwhile.
const pauseFor = ackWait + leaseTTL

// clickhouseDown ends ClickHouse with stop, waits d and starts it again on the same data.
func (s *stack) clickhouseDown(ctx context.Context, stop func() error, d time.Duration, fault func(string, ...any)) error {
	if err := stop(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := s.ch.Restart(rctx); err != nil {
		return err
	}
	fault("ClickHouse started again")
	return nil
}

// fillStreams sets the byte limit of RAW and EVENTS to what each holds, so the next message is
// refused (DiscardNew), and returns the function that restores their configuration.
func fillStreams(ctx context.Context, js jetstream.JetStream) (func(context.Context) error, error) {
	var restore []jetstream.StreamConfig
	undo := func(ctx context.Context) error {
		var errs []error
		for _, cfg := range restore {
			for attempt := 0; ; attempt++ {
				uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := js.UpdateStream(uctx, cfg)
				cancel()
				if err == nil {
					break
				}
				if attempt == 20 {
					errs = append(errs, fmt.Errorf("restore stream %s: %w", cfg.Name, err))
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
		}
		return errors.Join(errs...)
	}
	for _, name := range []string{bus.StreamRaw, bus.StreamEvents} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return nil, errors.Join(err, undo(ctx))
		}
		info, err := st.Info(ctx)
		if err != nil {
			return nil, errors.Join(err, undo(ctx))
		}
		full := info.Config
		full.MaxBytes = max(int64(info.State.Bytes), 1)
		if _, err := js.UpdateStream(ctx, full); err != nil {
			return nil, errors.Join(err, undo(ctx))
		}
		restore = append(restore, info.Config)
	}
	return undo, nil
}

// shuffled returns graceful (false) and kill (true) in a random order.
func shuffled(rng *rand.Rand, graceful, kills int) []bool {
	kinds := append(slices.Repeat([]bool{false}, graceful), slices.Repeat([]bool{true}, kills)...)
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	return kinds
}

// checkGracefulExit waits for a process sent SIGTERM to exit: it must exit 0 within timeout
// (stop fetching, flush, acknowledge, exit). One that does not is killed, and reported.
func checkGracefulExit(d process.Delivery, name string, timeout time.Duration, problem func(string, ...any)) {
	select {
	case <-d.Exited:
		if !d.State().Success() {
			problem("%s (pid %d) exited with %s after SIGTERM, want 0", name, d.PID, d.State())
		}
	case <-time.After(timeout):
		_ = d.Kill()
		problem("%s (pid %d) still running %s after SIGTERM; killed", name, d.PID, timeout)
		<-d.Exited
	}
}

func poisonIDs(recs []events.Raw) string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.RecordID
	}
	if len(ids) > 4 {
		return strings.Join(ids[:2], ", ") + ", … " + ids[len(ids)-1]
	}
	return strings.Join(ids, ", ")
}

// waitRestart waits for the restart, then lets the process work for uptime.
func waitRestart(ctx context.Context, restarted <-chan struct{}, uptime time.Duration) error {
	select {
	case <-restarted:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Minute):
		return errors.New("not restarted within 2m")
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(uptime):
	}
	return nil
}
