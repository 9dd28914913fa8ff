-- 0005: every RAW message (DESIGN.md §6): lineage, and analysts' access to entity types that
-- have no canonical mapping. payload holds the bytes exactly as the provider sent them.
-- ce_id is a hash of (provider, resource, record id, payload), so the key (provider, resource,
-- ce_id) absorbs redeliveries and unchanged re-polls; a changed record is a new row. Monthly
-- partitions by fetched_at let operators drop old months; the same content fetched again in
-- another month after JetStream's duplicate window is kept twice (harmless for an archive).
CREATE TABLE IF NOT EXISTS chargeline.raw_records
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
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(fetched_at)
ORDER BY (provider, resource, ce_id);
