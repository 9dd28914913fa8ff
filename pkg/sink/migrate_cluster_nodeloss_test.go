package sink

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/sink/clickhousetest"
)

// TestSinkOnClusterLosesNoRecordWhenANodeFails runs the sink in cluster mode on a 3-server NATS
// JetStream cluster (streams and buckets R3) and a 2-replica ClickHouse cluster coordinated by
// ZooKeeper: it migrates ON CLUSTER and inserts through the Distributed tables while, one after
// the other, the EVENTS stream leader is shut down (and restarted), a ClickHouse replica is
// killed with SIGKILL (and restarted), and ZooKeeper is killed (until the sink has failed
// inserts) and restarted. Then both replicas must hold every session exactly once, FINAL and
// through the analysts' view, with the money to the cent.
func TestSinkOnClusterLosesNoRecordWhenANodeFails(t *testing.T) {
	t.Parallel()
	ns := natstest.StartCluster(t, 3)
	ch := clickhousetest.StartCluster(t, 2)
	reg := prometheus.NewRegistry()
	cfg := Config{DSN: ch.DSN(), Cluster: clickhousetest.ClusterName, BatchRows: 50, BatchAge: 50 * time.Millisecond,
		AckWait: 10 * time.Second, RetryMin: 20 * time.Millisecond, RetryMax: 500 * time.Millisecond}
	s, err := New(cfg, ns.JS, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	stop := run(t, s)

	const perPhase = 200
	next := 0
	// publishPhase publishes the next perPhase sessions, each retried until JetStream takes it
	// (a leader election refuses publishes for a moment; Nats-Msg-Id drops the repeats).
	publishPhase := func() {
		t.Helper()
		for _, m := range sessions("bemo", next, perPhase) {
			publishRetrying(t, ns.JS, m)
		}
		next += perPhase
	}
	landed := func(r int, want int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d sessions on replica r%d", want, r+1), func() (bool, error) {
			n, err := ch.Replicas[r].TryQueryUint64(t.Context(), "SELECT count() FROM chargeline.charging_sessions_local FINAL")
			return err == nil && n == uint64(want), fmt.Errorf("%d rows, %v", n, err)
		})
	}

	publishPhase()
	landed(0, next)

	// The EVENTS leader goes away while the sink consumes and inserts.
	leader := ns.StreamLeader(bus.StreamEvents)
	ns.Shutdown(leader)
	publishPhase()
	landed(0, next)
	ns.Restart(leader)
	ns.WaitCurrent(bus.StreamRaw, bus.StreamEvents, bus.StreamDLQ)
	if l := ns.StreamLeader(bus.StreamEvents); l < 0 {
		t.Fatal("no EVENTS leader after the restart")
	}

	// A replica crashes: the sink's connection to it breaks and it inserts through the other.
	ch.Replicas[0].Kill()
	publishPhase()
	landed(1, next)
	ch.Replicas[0].Restart()

	// ZooKeeper goes away: the replicated tables turn read-only, inserts fail and are retried
	// without acknowledging, until it is back.
	outages := func() float64 { return testutil.ToFloat64(s.m.errors.WithLabelValues("charging_sessions", kindOutage)) }
	before := outages()
	ch.KillKeeper()
	publishPhase()
	waitFor(t, "the sink to fail an insert without ZooKeeper", func() (bool, error) { return outages() > before, nil })
	ch.RestartKeeper()

	for r := range ch.Replicas {
		landed(r, next)
	}
	allAcked(t, ns.JS, bus.StreamEvents, "sink-events")
	for r, replica := range ch.Replicas {
		replica.Exec(t, "SYSTEM SYNC REPLICA chargeline.charging_sessions_local")
		for _, q := range []string{
			"SELECT count() FROM chargeline.charging_sessions_local FINAL",
			"SELECT uniqExact(id) FROM chargeline.charging_sessions_local",
			"SELECT count() FROM chargeline.charging_sessions_current",
			"SELECT count() FROM chargeline.charging_sessions FINAL",
		} {
			if n := replica.QueryUint64(t, q); n != uint64(next) {
				t.Errorf("replica r%d: %s = %d, want %d", r+1, q, n, next)
			}
		}
		// 5.1769 EUR per session (see session): the money to the cent, through the daily view.
		want := "5.1769" // × next below
		got := replica.QueryStrings(t, "SELECT toString(sum(amount)) FROM chargeline.charging_sessions_daily WHERE provider = 'bemo'")
		if len(got) != 1 || got[0] != mul(want, next) {
			t.Errorf("replica r%d: daily amount %v, want %s", r+1, got, mul(want, next))
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// mul multiplies a 4-decimal amount by n, exactly.
func mul(amount string, n int) string {
	var units int64
	for _, c := range amount {
		if c != '.' {
			units = units*10 + int64(c-'0')
		}
	}
	units *= int64(n)
	s := strconv.FormatInt(units, 10)
	for len(s) < 5 {
		s = "0" + s
	}
	return s[:len(s)-4] + "." + s[len(s)-4:]
}

// publishRetrying publishes m until JetStream acknowledges it.
func publishRetrying(t *testing.T, js jetstream.JetStream, m *nats.Msg) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		_, err := js.PublishMsg(ctx, m)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %s %s: %v", m.Subject, m.Header.Get(events.HeaderID), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
