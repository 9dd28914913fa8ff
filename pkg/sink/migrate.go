package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	clickhouseschema "github.com/chargeline/chargeline/schemas/clickhouse"
)

// Migration is one file of schemas/clickhouse.
type Migration struct {
	Version    uint32
	Name       string   // file name, e.g. "0002_charging_sessions.sql"
	Statements []string // in file order, without the trailing semicolons
}

var migrationFile = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	return readMigrations(clickhouseschema.FS)
}

// clusterName is what Config.Cluster may hold: the statements quote it as a string literal.
var clusterName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func readMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("sink: read migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		m := migrationFile.FindStringSubmatch(e.Name())
		if m == nil {
			if strings.HasSuffix(e.Name(), ".sql") {
				return nil, fmt.Errorf("sink: migration %s is not named NNNN_description.sql", e.Name())
			}
			continue
		}
		v, _ := strconv.ParseUint(m[1], 10, 32)
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("sink: read migration %s: %w", e.Name(), err)
		}
		stmts := splitStatements(string(b))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("sink: migration %s holds no statement", e.Name())
		}
		if len(out) > 0 && out[len(out)-1].Version == uint32(v) {
			return nil, fmt.Errorf("sink: migrations %s and %s share version %d", out[len(out)-1].Name, e.Name(), v)
		}
		out = append(out, Migration{Version: uint32(v), Name: e.Name(), Statements: stmts})
	}
	slices.SortFunc(out, func(a, b Migration) int { return int(a.Version) - int(b.Version) })
	if len(out) == 0 || out[0].Version != 1 {
		return nil, errors.New("sink: migration 0001 (schema_migrations) is missing")
	}
	return out, nil
}

// splitStatements splits SQL text on semicolons outside quotes and comments, dropping comments
// and blank statements.
func splitStatements(sql string) []string {
	var (
		out   []string
		cur   strings.Builder
		quote byte
	)
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case quote != 0:
			cur.WriteByte(c)
			if c == '\\' && i+1 < len(sql) {
				i++
				cur.WriteByte(sql[i])
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
			cur.WriteByte(c)
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
			cur.WriteByte('\n')
		case c == ';':
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}

// Exception codes that mean "already there": another sink ran the same idempotent statement at
// the same moment (CREATE … IF NOT EXISTS can still lose that race on some versions).
var alreadyExists = []int32{
	15, // DUPLICATE_COLUMN
	44, // ILLEGAL_COLUMN (column already exists, older servers)
	57, // TABLE_ALREADY_EXISTS
	82, // DATABASE_ALREADY_EXISTS
}

// Migrate applies the embedded migrations that schema_migrations does not list yet, in order,
// recording each after all its statements ran. Migration 0001 (database and schema_migrations)
// runs until schema_migrations exists; it is idempotent. Several sinks may call Migrate at once: statements are
// idempotent and recording a version twice is harmless (schema_migrations is a
// ReplacingMergeTree keyed by version). Migrate returns the versions it applied.
func Migrate(ctx context.Context, conn driver.Conn, logger *slog.Logger) ([]uint32, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	return migrate(ctx, conn, ms, logger)
}

// MigrateCluster is Migrate on the ClickHouse cluster named cluster: it applies
// ClusterMigrations(cluster), whose statements run ON CLUSTER, so every server gets them
// whichever one conn reaches. A server that is down gets them when it is back (distributed DDL);
// until then the statement waits distributed_ddl_task_timeout (180s by default) and
// MigrateCluster returns the timeout. Once schema_migrations exists nothing runs ON CLUSTER
// unless a migration is pending, so a sink restarted while a replica is down starts at once.
func MigrateCluster(ctx context.Context, conn driver.Conn, cluster string, logger *slog.Logger) ([]uint32, error) {
	ms, err := ClusterMigrations(cluster)
	if err != nil {
		return nil, err
	}
	return migrate(ctx, conn, ms, logger)
}

func migrate(ctx context.Context, conn driver.Conn, ms []Migration, logger *slog.Logger) ([]uint32, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var exists uint8
	if err := conn.QueryRow(ctx, "EXISTS TABLE "+Database+".schema_migrations").Scan(&exists); err != nil {
		return nil, fmt.Errorf("sink: migrate: look for schema_migrations: %w", err)
	}
	if exists == 0 {
		if err := execAll(ctx, conn, ms[0]); err != nil {
			return nil, err
		}
	}
	done := map[uint32]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM "+Database+".schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("sink: migrate: read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sink: migrate: read schema_migrations: %w", err)
		}
		done[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sink: migrate: read schema_migrations: %w", err)
	}
	var applied []uint32
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		if m.Version != 1 { // 0001 ran above
			if err := execAll(ctx, conn, m); err != nil {
				return applied, err
			}
		}
		// A batch, not Exec with VALUES: 18.16 waits for data blocks after any INSERT.
		if err := insert(ctx, conn, "schema_migrations", []row{{cols: []string{"version", "name"}, vals: []any{m.Version, m.Name}}}); err != nil {
			return applied, fmt.Errorf("sink: migrate: record %s: %w", m.Name, err)
		}
		logger.Info("migration applied", slog.Int("version", int(m.Version)), slog.String("name", m.Name))
		applied = append(applied, m.Version)
	}
	return applied, nil
}

func execAll(ctx context.Context, conn driver.Conn, m Migration) error {
	for i, stmt := range m.Statements {
		err := conn.Exec(ctx, stmt)
		var ex *clickhouse.Exception
		if errors.As(err, &ex) && slices.Contains(alreadyExists, ex.Code) {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("sink: migrate %s statement %d: %w", m.Name, i+1, err)
		}
	}
	return nil
}
