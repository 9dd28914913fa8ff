-- 0003 (cluster): invoice.v1 events; invoices_local per shard, invoices Distributed over it.
-- Same columns as schemas/clickhouse/0003_invoices.sql; sharding as charging_sessions (0002).
CREATE TABLE IF NOT EXISTS chargeline.invoices_local ON CLUSTER '{{cluster}}'
(
    id                String,
    provider          String,
    source_id         String,
    account           String,
    issued_at         Nullable(DateTime('UTC')),
    period_start      Nullable(DateTime('UTC')),
    period_end        Nullable(DateTime('UTC')),
    status            String,
    total_amount      Nullable(Decimal(18, 4)),
    total_net         Nullable(Decimal(18, 4)),
    total_gross       Nullable(Decimal(18, 4)),
    currency          String,
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
    session_ids       Array(String),
    document_url      String,
    source_updated_at Nullable(DateTime('UTC')),
    schema_version    String,
    raw_id            String,
    raw_subject       String,
    raw_sequence      UInt64,
    event_id          String,
    event_sequence    UInt64,
    version           UInt64,
    inserted_at       DateTime('UTC') DEFAULT now()
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/chargeline/invoices_local', '{replica}', version)
PARTITION BY provider
ORDER BY (provider, id);

CREATE TABLE IF NOT EXISTS chargeline.invoices ON CLUSTER '{{cluster}}'
AS chargeline.invoices_local
ENGINE = Distributed('{{cluster}}', chargeline, invoices_local, cityHash64(provider, id));
