-- 0001: the database and the table recording which migrations ran.
-- Every statement in schemas/clickhouse must run on ClickHouse 18.16.1 and on the current LTS
-- (DESIGN.md §6) and must be idempotent: several sinks may apply the same migration at once, and
-- 18.16 has no transactions. The sink records a version only after all its statements ran.
CREATE DATABASE IF NOT EXISTS chargeline;

CREATE TABLE IF NOT EXISTS chargeline.schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY version;
