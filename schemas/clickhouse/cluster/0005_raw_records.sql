-- 0005 (cluster): every RAW message; raw_records_local per shard, raw_records Distributed over
-- it. Same columns as schemas/clickhouse/0005_raw_records.sql. Sharding key = the table's key
-- (provider, resource, ce_id), so a redelivered message meets its first copy on one shard.
CREATE TABLE IF NOT EXISTS chargeline.raw_records_local ON CLUSTER '{{cluster}}'
(
    provider    String,
    resource    String,
    scope       String,
    record_id   String,
    ce_id       String,
    fetched_at  DateTime('UTC'),
    stream_seq  UInt64,
    payload     String,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/chargeline/raw_records_local', '{replica}')
PARTITION BY toYYYYMM(fetched_at)
ORDER BY (provider, resource, ce_id);

CREATE TABLE IF NOT EXISTS chargeline.raw_records ON CLUSTER '{{cluster}}'
AS chargeline.raw_records_local
ENGINE = Distributed('{{cluster}}', chargeline, raw_records_local, cityHash64(provider, resource, ce_id));
