package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/freeport"
	"github.com/chargeline/chargeline/pkg/sink"
	"github.com/chargeline/chargeline/pkg/sink/clickhouselocal"
)

// The cluster row: the e2e scenario again, on the engines' own clustering: three NATS servers
// (every stream and bucket R3) and a ClickHouse cluster of two replicas and ZooKeeper, the sink
// migrating ON CLUSTER and inserting through the Distributed tables. Its ratio is to the
// single-node e2e row of the same run.

// clusterNATS and clusterReplicas size the e2e-cluster scenario's clusters.
const (
	clusterNATS     = 3
	clusterReplicas = 2
	clusterName     = "chargeline_bench"
)

func (h *harness) e2eClusterScenario(ctx context.Context, single Result) ([]Result, error) {
	n := h.cfg.E2ERecords
	cl, err := clickhouselocal.StartCluster(ctx, filepath.Join(h.cfg.Dir, "clickhouse-cluster"), clusterName, clusterReplicas)
	if err != nil {
		return nil, err
	}
	defer func() { _ = cl.Stop() }()
	conn, err := sink.Open(sink.Config{DSN: cl.DSN(), Cluster: clusterName})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := sink.MigrateCluster(ctx, conn, clusterName, nil); err != nil {
		return nil, fmt.Errorf("bench: migrate the cluster: %w", err)
	}
	st, err := h.startStage(ctx, ScenarioE2ECluster, n, clusterNATS)
	if err != nil {
		return nil, err
	}
	defer st.close()
	st.chDSN, st.chCluster, st.ch = cl.DSN(), clusterName, cl.Replicas

	tables := []string{sink.TableChargingSessions, sink.TableRawRecords}
	svc, err := st.measure(ctx, run{
		scenario: ScenarioE2ECluster, name: "end to end, cluster", records: n,
		start: func(ctx context.Context, g *group) error { return startPipeline(ctx, st, g, nil) },
		done: func(ctx context.Context) (uint64, uint64, error) {
			least := uint64(n)
			for _, t := range tables {
				got, err := countOn(ctx, conn, t, "")
				if err != nil {
					return 0, uint64(n), err
				}
				least = min(least, got)
			}
			return least, uint64(n), nil
		},
	})
	if err != nil {
		return nil, err
	}
	if single.RecordsPerSecond > 0 {
		svc.ratio(single)
	}
	svc.note("%d NATS servers (streams and buckets R%d), %d ClickHouse replicas + ZooKeeper; the sink inserts through the Distributed tables (insert_distributed_sync=1); done when charging_sessions and raw_records (Distributed) hold every record",
		clusterNATS, clusterNATS, clusterReplicas)
	for _, t := range tables {
		plain, err := countOn(ctx, conn, t, "")
		if err != nil {
			return nil, err
		}
		svc.exact("count() "+t, plain, uint64(n))
	}
	// Every replica holds every row once, read from its own table.
	for i, addr := range cl.Addrs() {
		rc, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second})
		if err != nil {
			return nil, err
		}
		for _, t := range tables {
			if err := rc.Exec(ctx, "SYSTEM SYNC REPLICA "+sink.Database+"."+t+"_local"); err != nil {
				rc.Close()
				return nil, fmt.Errorf("bench: sync replica r%d: %w", i+1, err)
			}
			final, err := countOn(ctx, rc, t+"_local", " FINAL")
			if err != nil {
				rc.Close()
				return nil, err
			}
			svc.exact(fmt.Sprintf("count() FINAL %s_local on r%d", t, i+1), final, uint64(n))
		}
		rc.Close()
	}
	return []Result{svc}, nil
}

func countOn(ctx context.Context, conn driver.Conn, table, final string) (uint64, error) {
	q := "SELECT count() FROM " + sink.Database + "." + table + final
	var n uint64
	if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("bench: %s: %w", q, err)
	}
	return n, nil
}

// provision is bus.Provision, retried while a fresh cluster elects its meta leader.
func provision(ctx context.Context, js jetstream.JetStream, topo bus.Topology) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := bus.Provision(pctx, js, topo)
		cancel()
		if err == nil || topo.Replicas <= 1 || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// runNATSCluster starts n in-process JetStream servers routed to each other, each storing
// under dir/n<i>, and returns them with their client URLs, comma-separated.
func runNATSCluster(dir string, n int) ([]*server.Server, string, error) {
	ports := make([]int, 2*n) // n client ports, then n route ports
	for i := range ports {
		port, err := freeport.Get()
		if err != nil {
			return nil, "", fmt.Errorf("bench infra: %w", err)
		}
		ports[i] = port
	}
	clients, routes := ports[:n], ports[n:]
	servers := make([]*server.Server, n)
	var urls []string
	for i := range n {
		var others []string
		for j, r := range routes {
			if j != i {
				others = append(others, "nats://127.0.0.1:"+strconv.Itoa(r))
			}
		}
		ns, err := server.NewServer(&server.Options{
			ServerName: "n" + strconv.Itoa(i+1), Host: "127.0.0.1", Port: clients[i], JetStream: true,
			StoreDir: filepath.Join(dir, "n"+strconv.Itoa(i+1)), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "chargeline", Host: "127.0.0.1", Port: routes[i]},
			Routes:  server.RoutesFromStr(strings.Join(others, ",")),
		})
		if err != nil {
			shutdownAll(servers)
			return nil, "", fmt.Errorf("bench infra: nats-server n%d: %w", i+1, err)
		}
		go ns.Start()
		servers[i] = ns
		urls = append(urls, "nats://127.0.0.1:"+strconv.Itoa(clients[i]))
	}
	for i, ns := range servers {
		if !ns.ReadyForConnections(30 * time.Second) {
			shutdownAll(servers)
			return nil, "", errors.New("bench infra: nats-server n" + strconv.Itoa(i+1) + " not ready after 30s")
		}
	}
	return servers, strings.Join(urls, ","), nil
}

func shutdownAll(servers []*server.Server) {
	for _, ns := range servers {
		if ns != nil {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	}
}
