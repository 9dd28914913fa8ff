package sink

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/chargeline/chargeline/pkg/sink/clickhousetest"
)

// createTable splits a CREATE TABLE statement of schemas/clickhouse into the parts the two
// variants must share. Engine arguments hold no parentheses; column lists do (Nested, Nullable),
// so the column list runs to the last ")" before ENGINE.
var createTable = regexp.MustCompile(`(?s)^CREATE TABLE IF NOT EXISTS chargeline\.(\w+)(?: ON CLUSTER '([^']*)')?\s*\((.*)\)\s*ENGINE = (\w+)(?:\(([^()]*)\))?\s*(.*)$`)

// distributedTable is the cluster variant's second statement per table.
var distributedTable = regexp.MustCompile(`(?s)^CREATE TABLE IF NOT EXISTS chargeline\.(\w+) ON CLUSTER '([^']*)'\s+AS chargeline\.(\w+)\s+ENGINE = Distributed\('([^']*)', chargeline, (\w+), cityHash64\(([\w, ]+)\)\)$`)

var createView = regexp.MustCompile(`(?s)^CREATE VIEW IF NOT EXISTS chargeline\.(\w+)( ON CLUSTER '[^']*')? AS\s(.*)$`)

var orderBy = regexp.MustCompile(`ORDER BY \(?([\w, ]+)\)?`)

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestClusterMigrationsMatchTheSingleServerOnes checks the cluster variant statement by
// statement against the single-server migrations: each table becomes <table>_local with the
// same columns, partitioning and order, on a Replicated engine with the same version column,
// plus a Distributed <table> sharded by columns of its key (so every version of a row meets on
// one shard and FINAL still deduplicates); each view keeps its body. These are generated
// statements only: no ClickHouse cluster runs here.
func TestClusterMigrationsMatchTheSingleServerOnes(t *testing.T) {
	const cluster = "chargeline_cluster"
	single, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	clustered, err := ClusterMigrations(cluster)
	if err != nil {
		t.Fatal(err)
	}
	if len(clustered) != len(single) {
		t.Fatalf("%d cluster migrations, %d single-server ones", len(clustered), len(single))
	}
	tablesSeen := 0
	for i, m := range single {
		c := clustered[i]
		if c.Version != m.Version || c.Name != m.Name {
			t.Fatalf("cluster migration %d is %s, want %s", i, c.Name, m.Name)
		}
		for _, stmt := range c.Statements {
			if strings.Contains(stmt, "{{") {
				t.Errorf("%s: placeholder left in %q", c.Name, stmt)
			}
			if !strings.Contains(stmt, " ON CLUSTER '"+cluster+"'") {
				t.Errorf("%s: %q does not run ON CLUSTER", c.Name, stmt[:min(len(stmt), 80)])
			}
			up := strings.ToUpper(stmt)
			for _, banned := range []string{"DATETIME64", "MAP(", "JSON", " TTL ", "CODEC(", "LOWCARDINALITY", "ADD COLUMN IF NOT EXISTS", "ARRAYSUM", "GROUP BY 1"} {
				if strings.Contains(up, banned) {
					t.Errorf("%s uses %s (DESIGN.md §6)", c.Name, banned)
				}
			}
		}
		rest := slices.Clone(c.Statements)
		take := func(re *regexp.Regexp) []string {
			for j, s := range rest {
				if sm := re.FindStringSubmatch(s); sm != nil {
					rest = slices.Delete(rest, j, j+1)
					sm[0] = s // the whole statement, not just the part matched
					return sm
				}
			}
			return nil
		}
		for _, stmt := range m.Statements {
			switch {
			case strings.HasPrefix(stmt, "CREATE DATABASE IF NOT EXISTS chargeline"):
				if take(regexp.MustCompile(`^CREATE DATABASE IF NOT EXISTS chargeline ON CLUSTER '`+cluster+`'$`)) == nil {
					t.Errorf("%s: no CREATE DATABASE … ON CLUSTER", c.Name)
				}
			case createTable.MatchString(stmt):
				tablesSeen++
				checkClusterTable(t, c.Name, cluster, createTable.FindStringSubmatch(stmt), take)
			case createView.MatchString(stmt):
				v := createView.FindStringSubmatch(stmt)
				cv := take(regexp.MustCompile(`(?s)^CREATE VIEW IF NOT EXISTS chargeline\.` + v[1] + ` ON CLUSTER '` + cluster + `' AS\s(.*)$`))
				if cv == nil {
					t.Errorf("%s: view %s has no cluster variant", c.Name, v[1])
				} else if cv[1] != v[3] {
					t.Errorf("%s: view %s body differs\ncluster: %s\nsingle:  %s", c.Name, v[1], cv[1], v[3])
				}
			default:
				t.Errorf("%s: this test does not know how to compare %q: teach it", m.Name, stmt[:min(len(stmt), 80)])
			}
		}
		if len(rest) > 0 {
			t.Errorf("%s: cluster statements without a single-server twin: %q", c.Name, rest)
		}
	}
	if tablesSeen < 5 {
		t.Errorf("compared %d tables, want at least the five of DESIGN.md §6", tablesSeen)
	}
}

// checkClusterTable finds the cluster twin(s) of one single-server CREATE TABLE (parts from
// createTable) among the cluster statements (take removes what it returns).
func checkClusterTable(t *testing.T, file, cluster string, s []string, take func(*regexp.Regexp) []string) {
	t.Helper()
	table, cols, engine, engineArgs, tail := s[1], squash(s[3]), s[4], s[5], squash(s[6])
	if engine != "ReplacingMergeTree" {
		t.Errorf("%s: %s uses %s; the cluster variant knows ReplacingMergeTree only", file, table, engine)
		return
	}
	local := table + "_local"
	replicaArgs := "'/clickhouse/tables/{shard}/chargeline/" + local + "', '{replica}'"
	if table == "schema_migrations" {
		// One table replicated on every server: no shards, no Distributed table.
		local = table
		replicaArgs = "'/clickhouse/tables/all/chargeline/schema_migrations', '{replica}'"
	}
	if engineArgs != "" {
		replicaArgs += ", " + engineArgs
	}
	c := take(regexp.MustCompile(`(?s)^CREATE TABLE IF NOT EXISTS chargeline\.` + local + ` ON CLUSTER `))
	if c == nil {
		t.Errorf("%s: no cluster table %s", file, local)
		return
	}
	c = createTable.FindStringSubmatch(c[0])
	if c == nil {
		t.Errorf("%s: cluster table %s is not a CREATE TABLE with columns and an engine", file, local)
		return
	}
	if got := squash(c[3]); got != cols {
		t.Errorf("%s: %s columns differ from %s's\ncluster: %s\nsingle:  %s", file, local, table, got, cols)
	}
	if c[4] != "ReplicatedReplacingMergeTree" || c[5] != replicaArgs {
		t.Errorf("%s: %s engine %s(%s), want ReplicatedReplacingMergeTree(%s)", file, local, c[4], c[5], replicaArgs)
	}
	if got := squash(c[6]); got != tail {
		t.Errorf("%s: %s partitioning/order %q, want %q", file, local, got, tail)
	}
	if table == "schema_migrations" {
		return
	}
	d := take(regexp.MustCompile(`(?s)^CREATE TABLE IF NOT EXISTS chargeline\.` + table + ` ON CLUSTER `))
	if d == nil {
		t.Errorf("%s: no Distributed table %s", file, table)
		return
	}
	d = distributedTable.FindStringSubmatch(d[0])
	if d == nil || d[2] != cluster || d[3] != local || d[4] != cluster || d[5] != local {
		t.Errorf("%s: %s must be CREATE TABLE … ON CLUSTER AS chargeline.%s ENGINE = Distributed(cluster, chargeline, %s, cityHash64(key columns)), got %v", file, table, local, local, d)
		return
	}
	key := strings.Split(orderBy.FindStringSubmatch(tail)[1], ", ")
	for _, col := range strings.Split(d[6], ", ") {
		if !slices.Contains(key, col) {
			t.Errorf("%s: %s shards by %s, not a column of its key %v: versions of one row could land on two shards", file, table, col, key)
		}
	}
}

func TestClusterMigrationsRefuseBadNames(t *testing.T) {
	for _, name := range []string{"", "a'b", "a b", "x);DROP"} {
		if _, err := ClusterMigrations(name); err == nil {
			t.Errorf("ClusterMigrations(%q) accepted the name", name)
		}
		if err := (Config{Cluster: name}).Validate(); name != "" && err == nil {
			t.Errorf("Config{Cluster: %q}.Validate() = nil", name)
		}
	}
	if err := (Config{Cluster: "chargeline-prod.eu_1"}).Validate(); err != nil {
		t.Errorf("a valid cluster name: %v", err)
	}
}

func TestClusterModeInsertsWaitForEveryShard(t *testing.T) {
	opts, err := Config{Cluster: "c", DSN: DefaultDSN}.options()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Settings["insert_distributed_sync"] != 1 {
		t.Errorf("cluster mode settings %v, want insert_distributed_sync=1", opts.Settings)
	}
	opts, err = Config{Cluster: "c", DSN: "clickhouse://127.0.0.1:9000/chargeline?insert_distributed_sync=0"}.options()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Settings["insert_distributed_sync"] != 0 {
		t.Errorf("the DSN's insert_distributed_sync was overridden: %v", opts.Settings)
	}
	opts, err = Config{DSN: DefaultDSN}.options()
	if err != nil {
		t.Fatal(err)
	}
	if _, set := opts.Settings["insert_distributed_sync"]; set {
		t.Errorf("single-server mode sets insert_distributed_sync: %v", opts.Settings)
	}
}

// TestClusterMigrationsParseOn1816 sends every cluster statement to the test server (ClickHouse
// 18.16 here, a single server with neither Keeper nor a cluster named in remote_servers). It
// cannot run them; it checks that the server parses each one and refuses it for the missing
// cluster, not for its syntax (SYNTAX_ERROR, code 62).
func TestClusterMigrationsParseOn1816(t *testing.T) {
	t.Parallel()
	ch := clickhousetest.Start(t)
	conn := ch.Conn(t)
	ms, err := ClusterMigrations("chargeline_cluster")
	if err != nil {
		t.Fatal(err)
	}
	// The control: a broken statement is refused as a syntax error, before the cluster is looked up.
	var ex *clickhouse.Exception
	if err := conn.Exec(t.Context(), "CREATE TABLE IF NOT EXISTS chargeline.x ON CLUSTER 'chargeline_cluster' (a String) ENGINE = ReplacingMergeTree ORDER BY"); !errors.As(err, &ex) || ex.Code != 62 {
		t.Fatalf("a broken statement gave %v, want a syntax error (code 62)", err)
	}
	for _, m := range ms {
		for i, stmt := range m.Statements {
			err := conn.Exec(t.Context(), stmt)
			switch {
			case err == nil:
				t.Errorf("%s statement %d ran on a server without the cluster: %q", m.Name, i+1, stmt[:min(len(stmt), 80)])
			case !errors.As(err, &ex):
				t.Fatalf("%s statement %d: %v", m.Name, i+1, err)
			case ex.Code == 62:
				t.Errorf("%s statement %d: syntax error: %v", m.Name, i+1, err)
			default:
				t.Logf("%s statement %d refused as expected: code %d", m.Name, i+1, ex.Code)
			}
		}
	}
	if n := ch.QueryUint64(t, "SELECT count() FROM system.databases WHERE name = 'chargeline'"); n != 0 {
		t.Errorf("the refused statements created the database")
	}
}
