-- 0004 (cluster): cost_center.v1 events; cost_centers_local per shard, cost_centers Distributed
-- over it. Same columns as schemas/clickhouse/0004_cost_centers.sql; sharding as 0002.
CREATE TABLE IF NOT EXISTS chargeline.cost_centers_local ON CLUSTER '{{cluster}}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/chargeline/cost_centers_local', '{replica}', version)
PARTITION BY provider
ORDER BY (provider, id);

CREATE TABLE IF NOT EXISTS chargeline.cost_centers ON CLUSTER '{{cluster}}'
AS chargeline.cost_centers_local
ENGINE = Distributed('{{cluster}}', chargeline, cost_centers_local, cityHash64(provider, id));
