package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// ReplicaResult is one ClickHouse replica's comparison with the ground truth, read from its
// own <table>_local tables FINAL (not through the Distributed tables, which may read the other
// replica).
type ReplicaResult struct {
	Replica    string // r1, r2
	Lost       int
	Duplicated int
}

// planCluster draws the cluster faults of sc: NATS stream leaders killed at points of the
// normalizer's progress, the ClickHouse replica outage and the ZooKeeper outage at points of
// the sink's.
func planCluster(s *stack, sc Scenario, rng *rand.Rand, fault func(string, ...any)) []lane {
	var lanes []lane
	if sc.NATSLeaderKills > 0 {
		l := lane{name: "nats-leader"}
		for i, at := range points(rng, sc.NATSLeaderKills) {
			stream := bus.StreamEvents
			if i%2 == 1 {
				stream = bus.StreamRaw
			}
			delay := between(rng, time.Second, 5*time.Second)
			l.actions = append(l.actions, action{at: at, gauge: gaugeEvents, what: "kill -9 leader", do: func(ctx context.Context) error {
				i, err := s.streamLeader(ctx, stream)
				if err != nil {
					return err
				}
				d, err := s.nats[i].Kill(ctx, delay)
				if err != nil {
					return err
				}
				fault("kill -9 nats-server n%d (pid %d), leader of %s, at %.0f%% of events; back in %s",
					i+1, d.PID, stream, 100*at, delay.Round(time.Millisecond))
				if err := waitRestart(ctx, d.Restarted, 5*time.Second); err != nil {
					return err
				}
				if j, err := s.streamLeader(ctx, stream); err == nil {
					fault("%s led by n%d now", stream, j+1)
				}
				return nil
			}})
		}
		lanes = append(lanes, l)
	}
	if sc.ReplicaOutage > 0 {
		at := points(rng, 1)[0]
		r := s.cluster.Replicas[0] // first in the sink's DSN: the one it inserts through
		lanes = append(lanes, lane{name: "clickhouse-replica", actions: []action{{at: at, gauge: gaugeSink, what: "kill -9", do: func(ctx context.Context) error {
			if err := r.Kill(); err != nil {
				return err
			}
			fault("kill -9 ClickHouse replica r1 (%s, the sink's first) at %.0f%% of the sink's progress, for %s", r.Addr(), 100*at, sc.ReplicaOutage)
			wait(ctx, sc.ReplicaOutage)
			// As its supervisor would (systemd's Restart=always): 18.16 exits at start-up while
			// ZooKeeper is unreachable (loading a replicated table needs it), which the cluster
			// scenario's overlapping ZooKeeper outage makes happen.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			for attempt := 1; ; attempt++ {
				err := r.Restart(rctx)
				if err == nil {
					break
				}
				if rctx.Err() != nil {
					return err
				}
				fault("ClickHouse replica r1 did not start (attempt %d: %s); starting it again in 2s", attempt, firstLine(err.Error()))
				wait(rctx, 2*time.Second)
			}
			fault("ClickHouse replica r1 started again")
			return nil
		}}}})
	}
	if sc.ZooKeeperOutage > 0 {
		at := points(rng, 1)[0]
		zk := s.cluster.ZooKeeper
		lanes = append(lanes, lane{name: "zookeeper", actions: []action{{at: at, gauge: gaugeSink, what: "stop", do: func(ctx context.Context) error {
			if err := zk.Stop(); err != nil {
				return err
			}
			fault("stop ZooKeeper at %.0f%% of the sink's progress, for %s", 100*at, sc.ZooKeeperOutage)
			wait(ctx, sc.ZooKeeperOutage)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := zk.Restart(rctx); err != nil {
				return err
			}
			fault("ZooKeeper started again")
			return nil
		}}}})
	}
	return lanes
}

func wait(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// streamLeader returns the index of the NATS server leading stream, waiting for an election
// (up to 30s).
func (s *stack) streamLeader(ctx context.Context, stream string) (int, error) {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := s.js.Stream(ictx, stream)
		if err == nil {
			var info, ierr = st.Info(ictx)
			err = ierr
			if err == nil && info.Cluster != nil {
				if n, ok := strings.CutPrefix(info.Cluster.Leader, "n"); ok {
					if i, err := strconv.Atoi(n); err == nil && i >= 1 && i <= len(s.nats) {
						cancel()
						return i - 1, nil
					}
				}
				err = fmt.Errorf("leader %q", info.Cluster.Leader)
			}
		}
		cancel()
		last = err
		wait(ctx, 200*time.Millisecond)
	}
	return 0, fmt.Errorf("chaos: no leader of %s: %v", stream, last)
}

// measureReplicas compares each replica's own tables with the ground truth: canonical rows
// FINAL per provider, money, and the raw archive against RAW.
func (s *stack) measureReplicas(ctx context.Context, truth map[string]sim.Truth) ([]ReplicaResult, []string, error) {
	var out []ReplicaResult
	var problems []string
	for i, conn := range s.replicas {
		name := "r" + strconv.Itoa(i+1)
		got, err := queryLanded(ctx, conn, "_local")
		if err != nil {
			return nil, nil, fmt.Errorf("replica %s: %w", name, err)
		}
		rr := ReplicaResult{Replica: name}
		for _, p := range compare(truth, got) {
			rr.Lost += p.Lost
			rr.Duplicated += p.Duplicated
			if p.Lost > 0 || p.Duplicated > 0 || p.Money != "" {
				problems = append(problems, fmt.Sprintf("replica %s: %s: %d lost, %d doubled of %d (FINAL on %s's own tables)%s",
					name, p.Provider, p.Lost, p.Duplicated, p.Expected, name, moneyNote(p.Money)))
			}
		}
		archive, err := s.checkArchive(ctx, conn, "raw_records_local")
		if err != nil {
			return nil, nil, fmt.Errorf("replica %s: %w", name, err)
		}
		for _, a := range archive {
			problems = append(problems, "replica "+name+" raw archive incomplete: "+a)
		}
		out = append(out, rr)
	}
	return out, problems, nil
}

func moneyNote(m string) string {
	if m == "" {
		return ""
	}
	return "; money: " + m
}

// firstLine is s up to its first newline: a server's start error quotes its whole error log.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
