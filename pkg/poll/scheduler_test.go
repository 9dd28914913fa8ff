package poll_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/poll"
)

// countSource serves records 1..n in one scope; the checkpoint is the last record number.
type countSource struct {
	n     int
	mu    sync.Mutex
	froms []poll.Checkpoint
	// failAt makes Fetch return an error after emitting that record.
	failAt int
}

func (s *countSource) Scopes(context.Context) ([]string, error) { return []string{"acc 1"}, nil }

func (s *countSource) Fetch(ctx context.Context, scope string, from poll.Checkpoint, emit func(poll.Record) error) error {
	s.mu.Lock()
	s.froms = append(s.froms, from)
	s.mu.Unlock()
	start := 0
	if from != "" {
		start, _ = strconv.Atoi(string(from))
	}
	for i := start + 1; i <= s.n; i++ {
		err := emit(poll.Record{Resource: "things", ID: strconv.Itoa(i), Data: []byte(fmt.Sprintf(`{"n":%d}`, i)), Next: poll.Checkpoint(strconv.Itoa(i))})
		if err != nil {
			return err
		}
		if i == s.failAt {
			return errors.New("provider broke")
		}
	}
	return nil
}

func newScheduler(t *testing.T, js jetstream.JetStream, src poll.Source, cfg poll.Config) *poll.Scheduler {
	t.Helper()
	cfg.Provider = "fake"
	s, err := poll.NewScheduler(t.Context(), cfg, src, js, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func checkpoint(t *testing.T, js jetstream.JetStream) poll.Checkpoint {
	t.Helper()
	kv, err := js.KeyValue(t.Context(), bus.BucketCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := poll.NewCheckpoints(kv).Get(t.Context(), "fake", "acc 1")
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func rawCount(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(t.Context(), bus.StreamRaw)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestRunOncePublishesAndResumesFromCheckpoint(t *testing.T) {
	ns := natstest.Start(t)
	src := &countSource{n: 2500, failAt: 1200}
	s := newScheduler(t, ns.JS, src, poll.Config{Window: 64, CommitEvery: 100})

	if err := s.RunOnce(t.Context()); err == nil {
		t.Fatal("RunOnce: want the provider error, got nil")
	}
	if got := checkpoint(t, ns.JS); got != "1200" {
		t.Fatalf("checkpoint after failure at 1200 = %q, want every acknowledged record committed: 1200", got)
	}
	src.failAt = 0
	if err := s.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := checkpoint(t, ns.JS); got != "2500" {
		t.Fatalf("checkpoint = %q, want 2500", got)
	}
	if got := rawCount(t, ns.JS); got != 2500 {
		t.Fatalf("RAW holds %d messages, want 2500 (each once)", got)
	}
	if src.froms[1] != "1200" {
		t.Fatalf("second poll started from %q, want 1200", src.froms[1])
	}
	// A third poll starts at the end and publishes nothing.
	if err := s.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := rawCount(t, ns.JS); got != 2500 {
		t.Fatalf("RAW holds %d messages after a caught-up poll, want 2500", got)
	}
}

func TestCheckpointNeverPassesAnUnacknowledgedRecord(t *testing.T) {
	ns := natstest.Start(t)
	// RAW refuses every message after the 300th: the checkpoint must stop at 300.
	st, err := ns.JS.Stream(t.Context(), bus.StreamRaw)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgs = 300
	if _, err := ns.JS.UpdateStream(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	src := &countSource{n: 1000}
	s := newScheduler(t, ns.JS, src, poll.Config{Window: 50, CommitEvery: 7, Backoff: poll.Backoff{Initial: time.Millisecond, MaxAttempts: 2}})
	err = s.RunOnce(t.Context())
	if err == nil {
		t.Fatal("RunOnce into a full stream: want an error, got nil")
	}
	if got := checkpoint(t, ns.JS); got != "300" {
		t.Fatalf("checkpoint = %q, want 300 (the last acknowledged record); RAW holds %d; err %v", got, rawCount(t, ns.JS), err)
	}
}

func TestLeaseExcludesSecondHolderAndExpires(t *testing.T) {
	ns := natstest.StartWith(t, bus.Topology{LeaseTTL: time.Second})
	kv, err := ns.JS.KeyValue(t.Context(), bus.BucketLeases)
	if err != nil {
		t.Fatal(err)
	}
	a, err := poll.Acquire(t.Context(), kv, "fake", "acc", "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poll.Acquire(t.Context(), kv, "fake", "acc", "b"); !errors.Is(err, poll.ErrLeaseHeld) {
		t.Fatalf("second Acquire: got %v, want ErrLeaseHeld", err)
	}
	if err := a.Renew(t.Context()); err != nil {
		t.Fatal(err)
	}
	// a stops renewing (crashed): once the TTL passes, b gets the scope and a's renewal fails.
	var b *poll.Lease
	waitFor(t, 30*time.Second, func() bool {
		b, err = poll.Acquire(t.Context(), kv, "fake", "acc", "b")
		return err == nil
	})
	if err := a.Renew(t.Context()); !errors.Is(err, poll.ErrConflict) {
		t.Fatalf("renewal of an expired lease: got %v, want ErrConflict", err)
	}
	if err := b.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := poll.Acquire(t.Context(), kv, "fake", "acc", "c"); err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
}

func TestRunStopsCleanlyAndTwoReplicasNeverShareAScope(t *testing.T) {
	ns := natstest.Start(t)
	src := &countSource{n: 3000}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 2 {
		s := newScheduler(t, ns.JS, src, poll.Config{Interval: 50 * time.Millisecond, LeaseTTL: 3 * time.Second})
		wg.Go(func() {
			if err := s.Run(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, 60*time.Second, func() bool { return checkpoint(t, ns.JS) == "3000" })
	cancel()
	wg.Wait()
	if got := rawCount(t, ns.JS); got != 3000 {
		t.Fatalf("RAW holds %d, want 3000", got)
	}
	// Only one replica ever fetched from the start: the other waited on the lease.
	starts := 0
	for _, f := range src.froms {
		if f == "" {
			starts++
		}
	}
	if starts != 1 {
		t.Fatalf("%d polls started from the beginning, want 1 (froms: %v)", starts, src.froms[:min(len(src.froms), 10)])
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slowSource emits record 1, lets more than DrainTimeout pass (a long poll: many pages, a
// provider's Retry-After), then emits record 2.
type slowSource struct{ pause time.Duration }

func (s *slowSource) Scopes(context.Context) ([]string, error) { return []string{"acc 1"}, nil }

func (s *slowSource) Fetch(ctx context.Context, scope string, from poll.Checkpoint, emit func(poll.Record) error) error {
	for i := 1; i <= 2; i++ {
		if i == 2 {
			time.Sleep(s.pause) // time must pass here; nothing is being waited for
		}
		if err := emit(poll.Record{Resource: "things", ID: strconv.Itoa(i), Data: []byte(`{}`), Next: poll.Checkpoint(strconv.Itoa(i))}); err != nil {
			return err
		}
	}
	return nil
}

// TestCheckpointCommitsAfterDrainTimeoutIntoAPoll: DrainTimeout bounds each commit and the
// final drain, not the whole poll.
func TestCheckpointCommitsAfterDrainTimeoutIntoAPoll(t *testing.T) {
	ns := natstest.Start(t)
	s := newScheduler(t, ns.JS, &slowSource{pause: 1500 * time.Millisecond}, poll.Config{CommitEvery: 1, DrainTimeout: time.Second})
	if err := s.RunOnce(t.Context()); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if got := checkpoint(t, ns.JS); got != "2" {
		t.Fatalf("checkpoint = %q, want 2", got)
	}
}
