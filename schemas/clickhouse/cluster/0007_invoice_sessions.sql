-- 0007 (cluster): invoice_sessions of schemas/clickhouse/0007_invoice_sessions.sql, created on
-- every server, with the same body. Both sides are subqueries over the Distributed tables: the
-- server the query reaches gathers each side's deduplicated rows from every shard and joins them,
-- so a bill finds its session whichever shard holds it.
CREATE VIEW IF NOT EXISTS chargeline.invoice_sessions ON CLUSTER '{{cluster}}' AS
SELECT
    invoice_provider, invoice_id, invoice_account, invoice_issued_at, invoice_status,
    invoice_total_amount, invoice_currency, invoice_document_url,
    session_ref, session_source_id,
    session_id != '' AS session_matched,
    session_id, session_provider, session_account, session_status,
    session_started_at, session_ended_at, session_country_code,
    session_quantity, session_unit, session_energy_kwh, session_total_amount, session_currency
FROM
(
    SELECT
        provider AS invoice_provider,
        id AS invoice_id,
        account AS invoice_account,
        issued_at AS invoice_issued_at,
        status AS invoice_status,
        total_amount AS invoice_total_amount,
        currency AS invoice_currency,
        document_url AS invoice_document_url,
        session_ref,
        substring(session_ref, position(session_ref, ':') + 1) AS session_source_id
    FROM chargeline.invoices FINAL
    LEFT ARRAY JOIN session_ids AS session_ref
)
ALL LEFT JOIN
(
    SELECT
        source_id AS session_source_id,
        id AS session_id,
        provider AS session_provider,
        account AS session_account,
        status AS session_status,
        started_at AS session_started_at,
        ended_at AS session_ended_at,
        location_country_code AS session_country_code,
        quantity AS session_quantity,
        unit AS session_unit,
        energy_kwh AS session_energy_kwh,
        total_amount AS session_total_amount,
        currency AS session_currency
    FROM chargeline.charging_sessions FINAL
)
USING session_source_id;
