-- 0003: invoice.v1 events (DESIGN.md §5, events.Invoice): total_amount as the provider states
-- it, total_net and total_gross where it tells them apart. Same keys, versioning and partitioning as
-- charging_sessions (see 0002): ReplacingMergeTree(version = raw_sequence), ORDER BY
-- (provider, id), PARTITION BY provider.
CREATE TABLE IF NOT EXISTS chargeline.invoices
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
ENGINE = ReplacingMergeTree(version)
PARTITION BY provider
ORDER BY (provider, id);
