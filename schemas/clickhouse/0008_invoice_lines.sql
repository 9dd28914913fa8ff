-- 0008: invoice_line.v1 events (Mews OrderItems: items a provider exports apart from their bill,
-- naming it by id), and invoice_totals, the money of every invoice per currency: its own totals
-- when it states them, else the sum of its current lines.
--
-- Keys as in 0002: ReplacingMergeTree(version = raw_sequence) ordered by (provider, id), the id
-- being the line's own ("mews:<OrderItem Id>"), not its invoice's: an item that moves to
-- another bill, or is cancelled, replaces its earlier version instead of being counted twice.
-- Money is Decimal (never Float): amount as the provider states it, net_amount and
-- gross_amount where it tells them apart; a value with more than 4 decimals is refused by the
-- sink (dead-lettered), never rounded.
CREATE TABLE IF NOT EXISTS chargeline.invoice_lines
(
    id                String,
    provider          String,
    source_id         String,
    invoice_id        String,
    account           String,
    status            String,
    product_category  String,
    product_family    String,
    product_code      String,
    quantity          Nullable(Decimal(18, 4)),
    unit              String,
    unit_price        Nullable(Decimal(18, 6)),
    amount            Decimal(18, 4),
    net_amount        Nullable(Decimal(18, 4)),
    gross_amount      Nullable(Decimal(18, 4)),
    currency          String,
    time              Nullable(DateTime('UTC')),
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

CREATE VIEW IF NOT EXISTS chargeline.invoice_lines_current AS
SELECT * FROM chargeline.invoice_lines FINAL;

-- One row per invoice and currency, over the deduplicated state (both sides FINAL, summed when
-- queried: a redelivered row is never counted twice).
-- An invoice whose total_amount is set (a Mews bill's own Amount, or the sum of its embedded
-- Revenue items) keeps its own totals: money_source 'invoice'. One without a total gets one row
-- per currency of its lines in invoice_lines (invoice_id = its id, status not 'Canceled'):
-- total_amount = the sum of their amounts, total_net and total_gross the sums of theirs when
-- every line has one (else NULL); money_source 'invoice_lines'. An invoice with neither keeps
-- one row with currency '', NULL totals, 0 line_items and money_source ''.
-- Inner columns carry other names than the outer ones, so no alias shadows a column it reads
-- (newer analyzers refuse that); totals are cast to one type so UNION ALL agrees on 18.16.
-- Assumes join_use_nulls=0 (the default): an invoice without lines gets 0 and ''.
CREATE VIEW IF NOT EXISTS chargeline.invoice_totals AS
SELECT
    inv_provider AS provider,
    inv_id AS invoice_id,
    inv_account AS account,
    inv_issued_at AS issued_at,
    inv_status AS status,
    money_currency AS currency,
    money_amount AS total_amount,
    money_net AS total_net,
    money_gross AS total_gross,
    money_lines AS line_items,
    money_from AS money_source
FROM
(
    SELECT
        provider AS inv_provider,
        id AS inv_id,
        account AS inv_account,
        issued_at AS inv_issued_at,
        status AS inv_status,
        currency AS money_currency,
        CAST(total_amount AS Nullable(Decimal(38, 4))) AS money_amount,
        CAST(total_net AS Nullable(Decimal(38, 4))) AS money_net,
        CAST(total_gross AS Nullable(Decimal(38, 4))) AS money_gross,
        toUInt64(length(lines.amount)) AS money_lines,
        'invoice' AS money_from
    FROM chargeline.invoices FINAL
    WHERE isNotNull(total_amount)
    UNION ALL
    SELECT
        inv_provider,
        inv_id,
        inv_account,
        inv_issued_at,
        inv_status,
        line_currency AS money_currency,
        if(line_count = 0, NULL, CAST(line_amount AS Nullable(Decimal(38, 4)))) AS money_amount,
        if(line_count = 0 OR line_nets < line_count, NULL, CAST(line_net AS Nullable(Decimal(38, 4)))) AS money_net,
        if(line_count = 0 OR line_grosses < line_count, NULL, CAST(line_gross AS Nullable(Decimal(38, 4)))) AS money_gross,
        line_count AS money_lines,
        if(line_count = 0, '', 'invoice_lines') AS money_from
    FROM
    (
        SELECT
            provider AS inv_provider,
            id AS inv_id,
            account AS inv_account,
            issued_at AS inv_issued_at,
            status AS inv_status
        FROM chargeline.invoices FINAL
        WHERE isNull(total_amount)
    )
    ALL LEFT JOIN
    (
        SELECT
            invoice_id AS inv_id,
            currency AS line_currency,
            count() AS line_count,
            sum(amount) AS line_amount,
            count(net_amount) AS line_nets,
            sum(net_amount) AS line_net,
            count(gross_amount) AS line_grosses,
            sum(gross_amount) AS line_gross
        FROM chargeline.invoice_lines FINAL
        WHERE invoice_id != '' AND status != 'Canceled'
        GROUP BY inv_id, line_currency
    )
    USING inv_id
);
