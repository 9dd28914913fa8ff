-- 0002 (cluster): charging_session.v1 events. The rows live in charging_sessions_local, a
-- ReplicatedReplacingMergeTree(version) per shard with exactly the columns, keys and partitions of
-- the single-server table (see schemas/clickhouse/0002_charging_sessions.sql); the sink and
-- analysts use charging_sessions, a Distributed table over it.
-- Sharding key cityHash64(provider, id): every version of a session lands on the same shard, so
-- FINAL (applied on each shard) still keeps exactly one row per id.
CREATE TABLE IF NOT EXISTS chargeline.charging_sessions_local ON CLUSTER '{{cluster}}'
(
    id                    String,
    provider              String,
    source_id             String,
    account               String,
    status                String,
    started_at            Nullable(DateTime('UTC')),
    ended_at              Nullable(DateTime('UTC')),
    duration_seconds      Nullable(Int64),
    location_id           String,
    location_name         String,
    location_address      String,
    location_postal_code  String,
    location_city         String,
    location_country_code String,
    location_latitude     Nullable(Float64),
    location_longitude    Nullable(Float64),
    location_operator     String,
    location_store_number String,
    location_time_zone    String,
    token_type            String,
    token_value           String,
    vehicle_id            String,
    quantity              Nullable(Decimal(18, 4)),
    unit                  String,
    energy_kwh            Nullable(Decimal(18, 4)),
    product_category      String,
    product_family        String,
    product_code          String,
    lines Nested
    (
        product_category String,
        product_family   String,
        product_code     String,
        quantity         Nullable(Decimal(18, 4)),
        unit             String,
        unit_price       Nullable(Decimal(18, 6)),
        amount           Decimal(18, 4),
        currency         String,
        time             Nullable(DateTime('UTC'))
    ),
    total_amount          Nullable(Decimal(18, 4)),
    currency              String,
    invoice_ref           String,
    cost_center_ref       String,
    source_updated_at     Nullable(DateTime('UTC')),
    schema_version        String,
    raw_id                String,
    raw_subject           String,
    raw_sequence          UInt64,
    event_id              String,
    event_sequence        UInt64,
    version               UInt64,
    inserted_at           DateTime('UTC') DEFAULT now()
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/chargeline/charging_sessions_local', '{replica}', version)
PARTITION BY provider
ORDER BY (provider, id);

CREATE TABLE IF NOT EXISTS chargeline.charging_sessions ON CLUSTER '{{cluster}}'
AS chargeline.charging_sessions_local
ENGINE = Distributed('{{cluster}}', chargeline, charging_sessions_local, cityHash64(provider, id));
