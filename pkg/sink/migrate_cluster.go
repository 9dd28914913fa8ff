package sink

import (
	"fmt"
	"regexp"
	"strings"
)

// The cluster variant of the migrations is generated from the single-server ones, statement by
// statement, so columns, keys, partitions, comments and view bodies have one source of truth
// (schemas/clickhouse/*.sql). What changes is only where things live:
//
//   - CREATE DATABASE, CREATE VIEW, ALTER and DROP run ON CLUSTER: every server gets them,
//     whichever one the sink reaches.
//   - A table T of the MergeTree family becomes T_local, the same columns and clauses on
//     Replicated<engine>('/clickhouse/tables/{shard}/chargeline/T_local', '{replica}', args),
//     plus T itself, a Distributed table over T_local sharded by cityHash64(T's ORDER BY
//     columns): every version of a row lands on one shard, where FINAL keeps the latest. The
//     sink, the views and analysts keep using T.
//   - schema_migrations is one table replicated on every server (no {shard} in its path): each
//     server sees every applied version.
//
// A statement the generator does not know (a materialized view, an INSERT) is an error, not a
// silent copy: it would need a decision about where it runs.

var (
	createDatabase = regexp.MustCompile(`(?is)^CREATE\s+DATABASE\s+(IF\s+NOT\s+EXISTS\s+)?chargeline$`)
	createTableRe  = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?chargeline\.(\w+)\s*\(`)
	createViewRe   = regexp.MustCompile(`(?is)^CREATE\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?chargeline\.(\w+)\s+AS\s`)
	alterTableRe   = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+chargeline\.(\w+)\s+(.*)$`)
	dropRe         = regexp.MustCompile(`(?is)^DROP\s+(TABLE|VIEW)\s+(IF\s+EXISTS\s+)?chargeline\.(\w+)$`)
	engineRe       = regexp.MustCompile(`(?is)^\s*ENGINE\s*=\s*(\w+)`)
	orderByRe      = regexp.MustCompile(`(?is)\bORDER\s+BY\s+(.+?)(?:\s+(?:SETTINGS|SAMPLE|PRIMARY|TTL)\b|$)`)
	// columnAlter is an ALTER that changes columns, which the Distributed table must follow.
	columnAlter = regexp.MustCompile(`(?is)^(ADD|DROP|MODIFY|COMMENT|RENAME)\s+COLUMN\b`)
)

// clusterGenerator turns single-server statements into cluster ones, in migration order: it
// remembers which tables it split into <table>_local + Distributed <table>, for later ALTERs
// and DROPs.
type clusterGenerator struct {
	cluster string
	split   map[string]bool
}

func (g *clusterGenerator) onCluster() string { return " ON CLUSTER '" + g.cluster + "'" }

// statements returns the cluster statements for one single-server statement.
func (g *clusterGenerator) statements(stmt string) ([]string, error) {
	switch {
	case createDatabase.MatchString(stmt):
		return []string{stmt + g.onCluster()}, nil
	case createTableRe.MatchString(stmt):
		return g.createTable(stmt)
	case createViewRe.MatchString(stmt):
		m := createViewRe.FindStringSubmatchIndex(stmt)
		nameEnd := m[5]
		return []string{stmt[:nameEnd] + g.onCluster() + stmt[nameEnd:]}, nil
	case alterTableRe.MatchString(stmt):
		m := alterTableRe.FindStringSubmatch(stmt)
		table, rest := m[1], m[2]
		if !g.split[table] {
			return []string{"ALTER TABLE chargeline." + table + g.onCluster() + " " + rest}, nil
		}
		out := []string{"ALTER TABLE chargeline." + table + "_local" + g.onCluster() + " " + rest}
		if columnAlter.MatchString(rest) {
			out = append(out, "ALTER TABLE chargeline."+table+g.onCluster()+" "+rest)
		}
		return out, nil
	case dropRe.MatchString(stmt):
		m := dropRe.FindStringSubmatch(stmt)
		kind, ifExists, name := strings.ToUpper(m[1]), m[2], m[3]
		out := []string{"DROP " + kind + " " + ifExists + "chargeline." + name + g.onCluster()}
		if kind == "TABLE" && g.split[name] {
			out = append(out, "DROP TABLE "+ifExists+"chargeline."+name+"_local"+g.onCluster())
			delete(g.split, name)
		}
		return out, nil
	}
	return nil, fmt.Errorf("no cluster form known for %q: teach pkg/sink/migrate_cluster.go", head(stmt))
}

// createTable splits CREATE TABLE chargeline.T (columns) ENGINE = E(args) clauses.
func (g *clusterGenerator) createTable(stmt string) ([]string, error) {
	m := createTableRe.FindStringSubmatchIndex(stmt)
	ifNotExists, table := stmt[m[2]:max(m[3], m[2])], stmt[m[4]:m[5]]
	open := m[1] - 1
	closing, err := matching(stmt, open)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", table, err)
	}
	columns := stmt[open : closing+1]
	rest := stmt[closing+1:]
	em := engineRe.FindStringSubmatchIndex(rest)
	if em == nil {
		return nil, fmt.Errorf("table %s: no ENGINE after its columns", table)
	}
	engine := rest[em[2]:em[3]]
	if !strings.HasSuffix(engine, "MergeTree") || strings.HasPrefix(engine, "Replicated") {
		return nil, fmt.Errorf("table %s: engine %s has no replicated form here (want one of the MergeTree family)", table, engine)
	}
	rest = rest[em[1]:]
	args := ""
	if t := strings.TrimLeft(rest, " \t\n"); strings.HasPrefix(t, "(") {
		end, err := matching(t, 0)
		if err != nil {
			return nil, fmt.Errorf("table %s engine: %w", table, err)
		}
		args, rest = strings.TrimSpace(t[1:end]), t[end+1:]
	}
	clauses := strings.TrimSpace(rest)

	local, path := table+"_local", "/clickhouse/tables/{shard}/chargeline/"+table+"_local"
	if table == "schema_migrations" {
		local, path = table, "/clickhouse/tables/all/chargeline/schema_migrations"
	}
	replicaArgs := "'" + path + "', '{replica}'"
	if args != "" {
		replicaArgs += ", " + args
	}
	out := []string{fmt.Sprintf("CREATE TABLE %schargeline.%s%s\n%s\nENGINE = Replicated%s(%s)\n%s",
		ifNotExists, local, g.onCluster(), columns, engine, replicaArgs, clauses)}
	if table == "schema_migrations" {
		return out, nil
	}
	om := orderByRe.FindStringSubmatch(clauses)
	if om == nil {
		return nil, fmt.Errorf("table %s: no ORDER BY to shard by", table)
	}
	key := strings.TrimSpace(om[1])
	if strings.HasPrefix(key, "(") && strings.HasSuffix(key, ")") {
		if end, err := matching(key, 0); err == nil && end == len(key)-1 {
			key = strings.TrimSpace(key[1 : len(key)-1])
		}
	}
	out = append(out, fmt.Sprintf("CREATE TABLE %schargeline.%s%s\nAS chargeline.%s\nENGINE = Distributed('%s', chargeline, %s, cityHash64(%s))",
		ifNotExists, table, g.onCluster(), local, g.cluster, local, key))
	g.split[table] = true
	return out, nil
}

// matching returns the index of the parenthesis closing the one at s[open], skipping quoted
// strings (comments may hold parentheses).
func matching(s string, open int) (int, error) {
	depth := 0
	var quote byte
	for i := open; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("unbalanced parentheses")
}

func head(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ClusterMigrations returns the cluster variant of the migrations for the ClickHouse cluster
// named cluster (a remote_servers entry), generated from Migrations: the same versions and
// names, each statement in its cluster form (see the comment atop migrate_cluster.go).
func ClusterMigrations(cluster string) ([]Migration, error) {
	if !clusterName.MatchString(cluster) {
		return nil, fmt.Errorf("sink: cluster name must be letters, digits, _, . or -, got %q", cluster)
	}
	single, err := Migrations()
	if err != nil {
		return nil, err
	}
	g := &clusterGenerator{cluster: cluster, split: map[string]bool{}}
	out := make([]Migration, 0, len(single))
	for _, m := range single {
		cm := Migration{Version: m.Version, Name: m.Name}
		for i, stmt := range m.Statements {
			stmts, err := g.statements(stmt)
			if err != nil {
				return nil, fmt.Errorf("sink: cluster migration %s statement %d: %w", m.Name, i+1, err)
			}
			cm.Statements = append(cm.Statements, stmts...)
		}
		out = append(out, cm)
	}
	return out, nil
}
