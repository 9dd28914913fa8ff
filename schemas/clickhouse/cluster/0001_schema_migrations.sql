-- 0001 (cluster): the database and schema_migrations on every server of the cluster.
--
-- The cluster variant of schemas/clickhouse, applied instead of it when the sink runs with
-- CLICKHOUSE_CLUSTER=<name> (DESIGN.md §6 names the tables; this directory changes only where
-- they live). Each file has the same version and name as its single-server twin, and the same
-- columns in the same order; {{cluster}} is replaced by the cluster name before a statement is
-- sent. {shard} and {replica} are ClickHouse macros every server defines (the Altinity operator
-- sets them; see deploy/clickhouse/README.md).
--
-- schema_migrations is one replicated table across the whole cluster (no {shard} in its Keeper
-- path, so every server is a replica of the same data): whichever server a sink reaches sees
-- every applied version.
CREATE DATABASE IF NOT EXISTS chargeline ON CLUSTER '{{cluster}}';

CREATE TABLE IF NOT EXISTS chargeline.schema_migrations ON CLUSTER '{{cluster}}'
(
    version    UInt32,
    name       String,
    applied_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/chargeline/schema_migrations', '{replica}')
ORDER BY version;
