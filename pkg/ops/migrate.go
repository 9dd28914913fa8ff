package ops

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/sink"
)

// MigrateReport lists every migration and whether this run applied it.
type MigrateReport struct {
	Migrations []MigrationStatus `json:"migrations"`
	Applied    []uint32          `json:"applied"` // versions applied by this run, in order
}

// MigrationStatus is one file of schemas/clickhouse.
type MigrationStatus struct {
	Version uint32 `json:"version"`
	Name    string `json:"name"`
	// Status is "applied now", "already applied" or "not applied" (a failed run stops at the
	// failing migration).
	Status string `json:"status"`
}

// Migrate applies the ClickHouse migrations the database does not have yet (sink.Migrate: the
// same code the sink runs at start, safe beside running sinks) and reports every migration.
// With cluster set it applies the cluster variant on that ClickHouse cluster
// (sink.MigrateCluster), as a sink with CLICKHOUSE_CLUSTER does.
func Migrate(ctx context.Context, conn driver.Conn, cluster string) (*MigrateReport, error) {
	var (
		ms      []sink.Migration
		applied []uint32
		err     error
		migErr  error
	)
	if cluster != "" {
		ms, err = sink.ClusterMigrations(cluster)
	} else {
		ms, err = sink.Migrations()
	}
	if err != nil {
		return nil, err
	}
	if cluster != "" {
		applied, migErr = sink.MigrateCluster(ctx, conn, cluster, nil)
	} else {
		applied, migErr = sink.Migrate(ctx, conn, nil)
	}
	rep := &MigrateReport{Applied: applied, Migrations: []MigrationStatus{}}
	if rep.Applied == nil {
		rep.Applied = []uint32{}
	}
	for _, m := range ms {
		st := "already applied"
		switch {
		case slices.Contains(applied, m.Version):
			st = "applied now"
		case migErr != nil:
			st = "not applied"
		}
		rep.Migrations = append(rep.Migrations, MigrationStatus{Version: m.Version, Name: m.Name, Status: st})
	}
	if migErr != nil {
		return rep, migErr
	}
	return rep, nil
}

func (r *MigrateReport) table(w io.Writer) {
	fmt.Fprintln(w, "VERSION\tNAME\tSTATUS")
	for _, m := range r.Migrations {
		fmt.Fprintf(w, "%04d\t%s\t%s\n", m.Version, m.Name, m.Status)
	}
	fmt.Fprintf(w, "\n%d migrations applied now\n", len(r.Applied))
}

func migrateCommand() command {
	return command{
		name: "migrate", synopsis: "[--clickhouse-dsn DSN] [--json]",
		summary: "apply the ClickHouse migrations and print their versions",
		help: `Applies the migrations in schemas/clickhouse that the database's schema_migrations table does
not list yet (on a ClickHouse cluster, with --clickhouse-cluster/CLICKHOUSE_CLUSTER, those in
schemas/clickhouse/cluster), in order, exactly as the sink does at start (safe while sinks run), then lists
every migration as "applied now" or "already applied". A failing migration stops the run (exit
1); the ones after it are "not applied".`,
		settings: func(Env) [][]config.Setting {
			return [][]config.Setting{clickHouseSettings(), {jsonSetting()}}
		},
		run: func(ctx context.Context, s *session) (report, error) {
			conn, err := s.clickHouse()
			if err != nil {
				return nil, err
			}
			rep, err := Migrate(ctx, conn, s.v.String("clickhouse-cluster"))
			if rep == nil {
				return nil, err
			}
			return rep, err
		},
	}
}
