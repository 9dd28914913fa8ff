-- 0004: cost_center.v1 events (DESIGN.md §5). Same keys, versioning and partitioning as
-- charging_sessions (see 0002).
CREATE TABLE IF NOT EXISTS chargeline.cost_centers
(
    id              String,
    provider        String,
    organization_id String,
    source_id       String,
    name            String,
    description     String,
    created_at      Nullable(DateTime('UTC')),
    updated_at      Nullable(DateTime('UTC')),
    schema_version  String,
    raw_id          String,
    raw_subject     String,
    raw_sequence    UInt64,
    event_id        String,
    event_sequence  UInt64,
    version         UInt64,
    inserted_at     DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY provider
ORDER BY (provider, id);
