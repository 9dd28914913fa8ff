package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/sink"
	"github.com/chargeline/chargeline/pkg/sink/clickhouselocal"
)

// pollEvery is how often a run's completion condition is checked (a stream's message count,
// a table's count()): the resolution of every duration measured.
const pollEvery = 50 * time.Millisecond

// harness holds what lives for the whole run: the local ClickHouse and the logs.
type harness struct {
	cfg    Config
	logger *slog.Logger // the services' logs, into <dir>/bench.log
	logw   io.Writer
	out    io.Writer // progress
	ch     *clickhouselocal.Process
	conn   driver.Conn
}

// stage is one scenario's infrastructure: a fresh NATS (in the child) and empty tables.
type stage struct {
	h     *harness
	name  string
	store string
	in    *infra
	nc    *nats.Conn // the harness's own connection: pre-loading, counting
	js    jetstream.JetStream
	conns []*nats.Conn // services' connections, closed with the stage
	// chDSN and chCluster are the ClickHouse the stage's sinks write to: the harness's single
	// server, or a cluster (e2e-cluster).
	chDSN, chCluster string
	// ch are the ClickHouse servers behind chDSN, whose CPU time each run reports.
	ch []*clickhouselocal.Process
}

func (st *stage) chPids() []int {
	var pids []int
	for _, p := range st.ch {
		pids = append(pids, p.Pid())
	}
	return pids
}

// newStage starts the infrastructure child (serving bemoRecords Be-Mo sessions when > 0),
// provisions the streams and recreates the ClickHouse schema.
func (h *harness) newStage(ctx context.Context, name string, bemoRecords int) (_ *stage, err error) {
	st, err := h.startStage(ctx, name, bemoRecords, 1)
	if err != nil {
		return nil, err
	}
	if err := h.resetSchema(ctx); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

// startStage starts the infrastructure child with natsServers NATS servers (more than one: a
// cluster, every stream and bucket with a replica on each) and provisions the streams.
func (h *harness) startStage(ctx context.Context, name string, bemoRecords, natsServers int) (_ *stage, err error) {
	return h.startStageWith(ctx, name, infraRequest{Records: bemoRecords, NATSServers: natsServers})
}

// startStageWith is startStage for any infrastructure request; it fills in the store and seed.
func (h *harness) startStageWith(ctx context.Context, name string, req infraRequest) (_ *stage, err error) {
	st := &stage{h: h, name: name, store: filepath.Join(h.cfg.Dir, "nats-"+name), chDSN: h.ch.DSN(), ch: []*clickhouselocal.Process{h.ch}}
	if err := os.RemoveAll(st.store); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	natsServers := max(req.NATSServers, 1)
	req.Store, req.Seed = st.store, h.cfg.Seed
	if st.in, err = startInfra(ctx, h.cfg.InfraCommand, req, h.logw); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	if st.nc, st.js, err = st.connect(ctx, "chargeline-bench", 4096); err != nil {
		return nil, err
	}
	if err := provision(ctx, st.js, bus.Topology{Replicas: natsServers}); err != nil {
		return nil, err
	}
	return st, nil
}

// resetSchema drops the chargeline database and applies the migrations again.
func (h *harness) resetSchema(ctx context.Context) error {
	if err := h.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+sink.Database); err != nil {
		return fmt.Errorf("bench: reset clickhouse: %w", err)
	}
	if _, err := sink.Migrate(ctx, h.conn, nil); err != nil {
		return fmt.Errorf("bench: migrate: %w", err)
	}
	return nil
}

// deleteConsumers deletes durable consumers of a stream, if they exist, so that the next run
// starts from the stream's first message.
func (st *stage) deleteConsumers(ctx context.Context, stream string, names ...string) error {
	for _, n := range names {
		if err := st.js.DeleteConsumer(ctx, stream, n); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("bench: delete consumer %s: %w", n, err)
		}
	}
	return nil
}

// recreate deletes streams and key-value buckets, if they exist, and provisions the
// chargeline topology again (which recreates those of its own).
func (st *stage) recreate(ctx context.Context, streams []string, buckets ...string) error {
	for _, s := range streams {
		if err := st.js.DeleteStream(ctx, s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("bench: delete stream %s: %w", s, err)
		}
	}
	for _, b := range buckets {
		if err := st.js.DeleteKeyValue(ctx, b); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
			return fmt.Errorf("bench: delete bucket %s: %w", b, err)
		}
	}
	return bus.Provision(ctx, st.js, bus.Topology{})
}

// dedupChecks drops repeated identical checks (the same count checked after every run).
func dedupChecks(cs []Check) []Check {
	var out []Check
	for _, c := range cs {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// pair runs a scenario's baseline and service Config.Repeat times, alternately, each after its
// reset, and returns the fastest run of each, with that run's figures: on a shared machine a
// slow run says more about the neighbours than about the code. check, when set, runs after every
// service run (exactly-once counts); the checks of every run are kept, whichever wins.
func (st *stage) pair(ctx context.Context, base, svc run, resetBase, resetSvc func(ctx context.Context) error,
	check func(ctx context.Context, r *Result) error) (Result, Result, error) {
	best, rates, err := st.interleave(ctx, side{run: base, reset: resetBase}, side{run: svc, reset: resetSvc, after: check})
	if err != nil {
		return Result{}, Result{}, err
	}
	bestBase, bestSvc := best[0], best[1]
	bestBase.Baseline = true
	if n := st.h.cfg.Repeat; n > 1 {
		bestBase.note("best of %d runs interleaved with the service's (records/s: %s)", n, strings.Join(rates[0], ", "))
		bestSvc.note("best of %d runs interleaved with the baseline's (records/s: %s)", n, strings.Join(rates[1], ", "))
	}
	bestSvc.ratio(bestBase)
	return bestBase, bestSvc, nil
}

// side is one of the runs interleave measures in turns.
type side struct {
	run run
	// reset runs before each measured run, outside the measured time.
	reset func(ctx context.Context) error
	// after, when set, runs after each measured run, outside the measured time, with its Result
	// (to add checks while the run's rows are still there).
	after func(ctx context.Context, r *Result) error
}

// interleave runs sides one after the other, Config.Repeat times, each after its reset, and
// returns the fastest run of each side (Baseline as its run says) and every run's records/s per
// side. Alternating, rather than repeating one side, spreads a noisy neighbour's cost over all
// of them. The checks after adds are kept from every run, whichever wins.
func (st *stage) interleave(ctx context.Context, sides ...side) ([]Result, [][]string, error) {
	best := make([]Result, len(sides))
	rates := make([][]string, len(sides))
	checks := make([][]Check, len(sides))
	for i := range st.h.cfg.Repeat {
		for j, s := range sides {
			if err := s.reset(ctx); err != nil {
				return nil, nil, err
			}
			res, err := st.measure(ctx, s.run)
			if err != nil {
				return nil, nil, err
			}
			if s.after != nil {
				if err := s.after(ctx, &res); err != nil {
					return nil, nil, err
				}
				checks[j] = append(checks[j], res.Checks...)
			}
			rates[j] = append(rates[j], fmt.Sprintf("%.0f", res.RecordsPerSecond))
			if i == 0 || res.RecordsPerSecond > best[j].RecordsPerSecond {
				best[j] = res
			}
		}
	}
	for j, s := range sides {
		best[j].Baseline = s.run.baseline
		best[j].Checks = dedupChecks(checks[j])
	}
	return best, rates, nil
}

// connect opens a NATS connection the way the services do (bus.Connect); asyncMax > 0 sets
// jetstream.WithPublishAsyncMaxPending, as the poller does.
func (st *stage) connect(ctx context.Context, name string, asyncMax int) (*nats.Conn, jetstream.JetStream, error) {
	c, err := pipeline.Connect(ctx, bus.ConnConfig{URL: st.in.natsURL, Name: name}, st.h.logger, asyncMax)
	if err != nil {
		return nil, nil, err
	}
	st.conns = append(st.conns, c.NC)
	nc, js := c.NC, c.JS
	return nc, js, nil
}

func (st *stage) close() {
	for _, nc := range st.conns {
		nc.Close()
	}
	if st.in != nil {
		st.in.stop()
	}
	_ = os.RemoveAll(st.store)
}

// streamMsgs returns the number of messages a stream holds.
func (st *stage) streamMsgs(ctx context.Context, name string) (uint64, error) {
	s, err := st.js.Stream(ctx, name)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// scratchStream creates a stream configured like an existing one (storage, duplicate window,
// retention) under another name and subjects: a baseline writes there, so its messages neither
// mix with the service's nor make the service's publishes duplicates.
func (st *stage) scratchStream(ctx context.Context, like, name string, subjects ...string) error {
	s, err := st.js.Stream(ctx, like)
	if err != nil {
		return err
	}
	cfg := s.CachedInfo().Config
	cfg.Name, cfg.Subjects, cfg.Description = name, subjects, "chargeline bench scratch stream like "+like
	if _, err := st.js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("bench: scratch stream %s: %w", name, err)
	}
	return nil
}

// publish publishes n messages made by msg(i) asynchronously with js's pending window, from
// workers goroutines, and waits for every PubAck.
func publish(ctx context.Context, js jetstream.JetStream, n, workers int, msg func(i int) (*nats.Msg, error)) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n && ctx.Err() == nil; i += workers {
				m, err := msg(i)
				if err == nil {
					err = publishAsync(ctx, js, m)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publishAsync is PublishMsgAsync that waits out a full pending window instead of failing.
func publishAsync(ctx context.Context, js jetstream.JetStream, m *nats.Msg) error {
	for {
		_, err := js.PublishMsgAsync(m)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			if err != nil {
				return fmt.Errorf("bench: publish to %s: %w", m.Subject, err)
			}
			return nil
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// quiesce waits (up to a minute) until ClickHouse runs no merge, so that a run does not pay for
// the parts an earlier run left behind.
func (h *harness) quiesce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		var n uint64
		if err := h.conn.QueryRow(ctx, "SELECT count() FROM system.merges").Scan(&n); err != nil {
			if ctx.Err() != nil {
				return nil // merging for a minute: measure anyway
			}
			return fmt.Errorf("bench: system.merges: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// count returns count() of a chargeline table, FINAL (deduplicated) or plain.
func (h *harness) count(ctx context.Context, table string, final bool) (uint64, error) {
	q := "SELECT count() FROM " + sink.Database + "." + table
	if final {
		q += " FINAL"
	}
	var n uint64
	if err := h.conn.QueryRow(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("bench: %s: %w", q, err)
	}
	return n, nil
}

// run is one measured run of a service or a baseline.
type run struct {
	scenario, name string
	records        int
	baseline       bool
	// start starts the components under test in g; it runs inside the measured time, so it
	// must not do more than a service's own start.
	start func(ctx context.Context, g *group) error
	// done tells how much of the run's work is complete.
	done progress
}

// measure runs r: it starts the meter (and a CPU profile for services when asked), starts the
// components, polls done every pollEvery, stops the meter when done holds, then stops the
// components outside the measured time.
func (st *stage) measure(ctx context.Context, r run) (Result, error) {
	h := st.h
	fmt.Fprintf(h.out, "  %-30s %9d records … ", r.name, r.records)
	ctx, cancel := context.WithTimeout(ctx, h.cfg.RunTimeout)
	defer cancel()
	var prof *os.File
	if h.cfg.CPUProfile != "" {
		suffix := r.scenario
		if r.baseline {
			suffix += "-baseline" // the profile to diff the service's against
		}
		path := strings.TrimSuffix(h.cfg.CPUProfile, ".prof") + "-" + suffix + ".prof"
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return Result{}, fmt.Errorf("bench: cpuprofile: %w", err)
		}
		f, err := os.Create(path)
		if err != nil {
			return Result{}, fmt.Errorf("bench: cpuprofile: %w", err)
		}
		prof = f
	}
	if err := h.quiesce(ctx); err != nil {
		return Result{}, err
	}
	g := newGroup()
	m := startMeter(st.in, st.chPids())
	if prof != nil {
		if err := pprof.StartCPUProfile(prof); err != nil {
			prof.Close()
			return Result{}, fmt.Errorf("bench: cpuprofile: %w", err)
		}
	}
	stopProfile := func() {
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
			prof = nil
		}
	}
	defer stopProfile()
	err := r.start(ctx, g)
	if err == nil {
		err = waitFor(ctx, func(ctx context.Context) (uint64, uint64, error) {
			if err := g.failed(); err != nil {
				return 0, 0, err
			}
			return r.done(ctx)
		})
	}
	s := m.stop()
	stopProfile()
	if serr := g.stop(); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		fmt.Fprintln(h.out, "failed")
		return Result{}, fmt.Errorf("bench: %s: %w", r.name, err)
	}
	res := newResult(r.scenario, r.name, r.records, s)
	fmt.Fprintf(h.out, "%6.1fs %9.0f records/s\n", res.Seconds, res.RecordsPerSecond)
	return res, nil
}

// progress reports how much of some work is complete: got of want.
type progress func(ctx context.Context) (got, want uint64, err error)

// stallTimeout fails a wait whose progress has not moved for this long (a poller refused by the
// API, a sink that cannot insert), rather than waiting for the run timeout.
const stallTimeout = 2 * time.Minute

// waitFor polls p every pollEvery until got reaches want, p fails, progress stalls, or ctx ends.
func waitFor(ctx context.Context, p progress) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	var (
		last  uint64
		moved = time.Now()
	)
	for {
		got, want, err := p(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil && got >= want {
			return nil
		}
		if got != last {
			last, moved = got, time.Now()
		} else if time.Since(moved) > stallTimeout {
			return fmt.Errorf("no progress for %s at %d of %d (see the log in the bench directory)", stallTimeout, got, want)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not done in time (%d of %d): %w", got, want, ctx.Err())
		case <-t.C:
		}
	}
}

// streamHolds is the progress of a stream towards n messages.
func (st *stage) streamHolds(name string, n int) progress {
	return func(ctx context.Context) (uint64, uint64, error) {
		got, err := st.streamMsgs(ctx, name)
		return got, uint64(n), err
	}
}

// tablesHold is the progress of tables towards n rows each (plain count(), the smallest).
func (h *harness) tablesHold(n int, tables ...string) progress {
	return func(ctx context.Context) (uint64, uint64, error) {
		least := uint64(n)
		for _, t := range tables {
			got, err := h.count(ctx, t, false)
			if err != nil {
				return 0, uint64(n), err
			}
			least = min(least, got)
		}
		return least, uint64(n), nil
	}
}

// group runs the components of one measured run; a component that fails fails the run.
type group struct {
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	errs     []error
	cleanups []func() error
}

func newGroup() *group {
	ctx, cancel := context.WithCancel(context.Background())
	return &group{ctx: ctx, cancel: cancel}
}

// run runs a component until stop; it gets a context of its own, cancelled by stop only.
func (g *group) run(name string, fn func(ctx context.Context) error) {
	g.wg.Go(func() {
		// A baseline loop may end by itself once its work is done; only errors count.
		if err := fn(g.ctx); err != nil && !errors.Is(err, context.Canceled) {
			g.mu.Lock()
			g.errs = append(g.errs, fmt.Errorf("%s: %w", name, err))
			g.mu.Unlock()
		}
	})
}

// cleanup registers fn to run after every component stopped (closing a connection pool).
func (g *group) cleanup(fn func() error) { g.cleanups = append(g.cleanups, fn) }

func (g *group) failed() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

// stop cancels every component, waits for them, runs the cleanups, and returns what failed.
func (g *group) stop() error {
	g.cancel()
	g.wg.Wait()
	errs := []error{g.failed()}
	for i := len(g.cleanups) - 1; i >= 0; i-- {
		errs = append(errs, g.cleanups[i]())
	}
	return errors.Join(errs...)
}
