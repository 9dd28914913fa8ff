// Package clickhouseschema embeds chargeline's ClickHouse migrations (the *.sql files beside
// it), so the sink and chargectl apply exactly the files in the repository.
//
// Files are named NNNN_description.sql and applied in order of NNNN; each statement ends with
// a semicolon and is idempotent (IF NOT EXISTS), because several sinks may migrate at once.
// The variant for a ClickHouse cluster (replicated tables behind Distributed ones, ON CLUSTER)
// is generated from these files by pkg/sink (ClusterMigrations); cluster/README.md says how.
package clickhouseschema

import "embed"

// FS holds the migration files at its root.
//
//go:embed *.sql
var FS embed.FS
