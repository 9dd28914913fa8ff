-- 0002: charging_session.v1 events (DESIGN.md §5), one row per event, columns flattened.
--
-- Keys: ReplacingMergeTree(version) ordered by (provider, id): every redelivery or re-poll of a
-- session lands on the same key, and SELECT … FINAL (or the view charging_sessions_current)
-- shows only the row with the highest version.
-- version = lineage.raw_sequence, the RAW stream sequence of the provider record the event was
-- mapped from: a later fetch of a record has a higher sequence, so later versions win, and
-- replaying old raw messages (which keep their original sequence) never overwrites newer data.
-- Rows with equal version (the same event delivered twice) are interchangeable.
-- Partitioning: by provider, a column that never changes for an id (the id starts with it).
-- started_at is not used: it can be missing while a session is open and a provider may correct
-- it, and a row that moved to another partition would never be deduplicated by FINAL.
-- Money and quantities are Decimal, never Float; unit prices get 6 decimals (energy tariffs
-- such as 0.38615 EUR/kWh), everything else 4. A value with more decimals than its column is
-- refused by the sink (dead-lettered), never rounded.
CREATE TABLE IF NOT EXISTS chargeline.charging_sessions
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
ENGINE = ReplacingMergeTree(version)
PARTITION BY provider
ORDER BY (provider, id);
