package clickhouselocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// replica is what makes a server one replica of a cluster: the cluster in remote_servers (one
// shard holding every replica), ZooKeeper, and the macros the replicated tables' paths use.
type replica struct {
	cluster   string
	shard     string   // {shard}: the same on every replica of the shard
	name      string   // {replica}: unique in the cluster
	peers     []string // every replica's native-protocol host:port, this one included
	zookeeper string   // host:port
}

// config returns the replica's part of config.xml ("" for a single server).
func (r *replica) config(interserverPort int) string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	// interserver_http_*: where the other replicas fetch this one's parts from.
	fmt.Fprintf(&b, "  <interserver_http_host>127.0.0.1</interserver_http_host>\n  <interserver_http_port>%d</interserver_http_port>\n", interserverPort)
	// internal_replication: a Distributed insert writes to one replica of the shard, and the
	// replicated table copies it to the others (writing to each itself would double rows).
	fmt.Fprintf(&b, "  <remote_servers>\n    <%s>\n      <shard>\n        <internal_replication>true</internal_replication>\n", r.cluster)
	for _, p := range r.peers {
		host, port, _ := strings.Cut(p, ":")
		fmt.Fprintf(&b, "        <replica><host>%s</host><port>%s</port></replica>\n", host, port)
	}
	fmt.Fprintf(&b, "      </shard>\n    </%s>\n  </remote_servers>\n", r.cluster)
	host, port, _ := strings.Cut(r.zookeeper, ":")
	// A short session: a replica whose ZooKeeper is gone turns its tables read-only (inserts
	// refused, retried by the sink) within seconds instead of hanging for the default 30s.
	fmt.Fprintf(&b, "  <zookeeper>\n    <node><host>%s</host><port>%s</port></node>\n    <session_timeout_ms>6000</session_timeout_ms>\n"+
		"    <operation_timeout_ms>3000</operation_timeout_ms>\n  </zookeeper>\n", host, port)
	fmt.Fprintf(&b, "  <macros>\n    <cluster>%s</cluster>\n    <shard>%s</shard>\n    <replica>%s</replica>\n  </macros>\n", r.cluster, r.shard, r.name)
	b.WriteString("  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>\n")
	return b.String()
}

// Cluster is a local ClickHouse cluster: one shard of Replicas, each a clickhouse-server
// process of its own, coordinated by one ZooKeeper. Its name is the remote_servers entry the
// sink's CLICKHOUSE_CLUSTER names.
type Cluster struct {
	Name      string
	ZooKeeper *ZooKeeper
	Replicas  []*Process
}

// StartCluster starts ZooKeeper and n clickhouse-server replicas of the cluster name (one
// shard) on free loopback ports, each in a subdirectory of dir, and waits until all answer or
// ctx ends. The replicas' macros are shard=01 and replica=r1…rn. The caller owns Stop.
func StartCluster(ctx context.Context, dir, name string, n int) (_ *Cluster, err error) {
	if n < 1 {
		return nil, fmt.Errorf("clickhouselocal: a cluster needs a replica, got %d", n)
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("clickhouselocal: %w", err)
	}
	c := &Cluster{Name: name}
	defer func() {
		if err != nil {
			c.Kill()
		}
	}()
	if c.ZooKeeper, err = StartZooKeeper(ctx, filepath.Join(dir, "zookeeper"), 0); err != nil {
		return nil, err
	}
	var peers []string
	for i := range n {
		p := &Process{Dir: filepath.Join(dir, "r"+strconv.Itoa(i+1)), bin: bin}
		for _, port := range []*int{&p.TCPPort, &p.HTTPPort, &p.InterserverPort} {
			if *port, err = freePort(); err != nil {
				return nil, err
			}
		}
		c.Replicas = append(c.Replicas, p)
		peers = append(peers, p.Addr())
	}
	for i, p := range c.Replicas {
		p.replica = &replica{cluster: name, shard: "01", name: "r" + strconv.Itoa(i+1), peers: peers, zookeeper: c.ZooKeeper.Addr()}
		if err := p.writeConfig(); err != nil {
			return nil, err
		}
	}
	// In parallel: 18.16 takes about two seconds to answer, most of it its own start-up.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, p := range c.Replicas {
		wg.Go(func() { errs[i] = p.start(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// DSN returns the clickhouse:// DSN naming every replica (clickhouse-go dials them in order,
// the next when one is down) and the chargeline database.
func (c *Cluster) DSN() string {
	return "clickhouse://" + strings.Join(c.Addrs(), ",") + "/chargeline"
}

// Addrs returns every replica's native-protocol host:port.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, p := range c.Replicas {
		out = append(out, p.Addr())
	}
	return out
}

// Stop stops every replica, then ZooKeeper.
func (c *Cluster) Stop() error {
	for _, p := range c.Replicas {
		_ = p.Stop()
	}
	if c.ZooKeeper != nil {
		_ = c.ZooKeeper.Stop()
	}
	return nil
}

// Kill ends every replica and ZooKeeper at once (SIGKILL).
func (c *Cluster) Kill() {
	for _, p := range c.Replicas {
		_ = p.Kill()
	}
	if c.ZooKeeper != nil {
		_ = c.ZooKeeper.Kill()
	}
}

// logLevel is the server's log level: a replica logs at debug, which is where 18.16 says that
// its distributed DDL worker is up (waitDDLWorker).
func (r *replica) logLevel() string {
	if r == nil {
		return "warning"
	}
	return "debug"
}

// ddlWorkerUp is what 18.16 logs once its distributed DDL worker holds its ZooKeeper session.
// An ON CLUSTER statement that arrives before that crashes 18.16 (a null ZooKeeper in
// DDLWorker::enqueueQuery: SIGSEGV), and the server answers /ping some milliseconds earlier.
const ddlWorkerUp = "DDLWorker: Processing tasks"

// logSize returns the size of the server log, where the next start's lines begin.
func (p *Process) logSize() int64 {
	st, err := os.Stat(filepath.Join(p.Dir, "log", "clickhouse-server.log"))
	if err != nil {
		return 0
	}
	return st.Size()
}

// waitDDLWorker waits until the server log, from offset from, says the DDL worker is up, the
// server exits, or ctx ends.
func (p *Process) waitDDLWorker(ctx context.Context, exited <-chan struct{}, from int64) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(filepath.Join(p.Dir, "log", "clickhouse-server.log")); err == nil {
			if int64(len(b)) < from { // rotated meanwhile
				from = 0
			}
			if bytes.Contains(b[from:], []byte(ddlWorkerUp)) {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("process exited")
		case <-ctx.Done():
			return fmt.Errorf("distributed DDL worker not up: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
}
