-- 0009: freshness, per canonical table and provider: how far the data reaches at the provider,
-- when the sink last wrote, and the ingest lag (insert time − source time, seconds) of the rows
-- inserted in the last hour and day.
--
-- One view with a `table` column rather than one per table: "how fresh is everything" is one
-- SELECT, and a canonical table added later is one more UNION ALL branch, not a new view.
--
-- Source time: the provider's last change where it states one (source_updated_at,
-- cost_centers.updated_at), else the record's own time (session end, else start; bill issue;
-- line consumption). The last change comes first because it is when the version the row holds
-- became readable at the provider (and what the Mews export is polled by): a bill issued a
-- month ago and corrected now is not a month late, and a line consumed next week was not
-- ingested before it happened. For sessions (Be-Mo and PIP send no change time) and cost
-- centres this is the CloudEvent time. Plugsurfing bills carry no time (their CloudEvent time
-- is the fetch): NULL, so they show inserts but no lag, rather than a fetch-to-insert time
-- passed off as the provider's lag.
--
-- inserted_at is each table's DEFAULT now(), never sent by the sink: ClickHouse's clock. A
-- negative lag (a source time ahead of it) is kept: it shows future-dated records or skew.
-- Read FINAL like every aggregate here, so a redelivered row counts once and a superseded
-- version not at all. quantilesExact, not quantile: quantile's reservoir sample can differ from
-- one read to the next. quantilesExactIf gives zeros, not NULL, for a window without a row
-- (18.16 and current alike), hence the explicit NULL. Inner names differ from the outer ones:
-- newer analyzers refuse an alias that shadows a column it reads.
CREATE VIEW IF NOT EXISTS chargeline.freshness AS
SELECT
    tbl AS table,
    prov AS provider,
    n AS rows,
    latest_src AS latest_source_time,
    latest_ins AS latest_inserted_at,
    n_hour AS rows_1h,
    if(lagged_hour = 0, NULL, lags_hour[1]) AS lag_p50_1h,
    if(lagged_hour = 0, NULL, lags_hour[2]) AS lag_p99_1h,
    n_day AS rows_1d,
    if(lagged_day = 0, NULL, lags_day[1]) AS lag_p50_1d,
    if(lagged_day = 0, NULL, lags_day[2]) AS lag_p99_1d
FROM
(
    SELECT
        tbl,
        prov,
        count() AS n,
        max(src) AS latest_src,
        max(ins) AS latest_ins,
        countIf(in_hour) AS n_hour,
        countIf(in_hour AND has_src) AS lagged_hour,
        quantilesExactIf(0.5, 0.99)(lag, in_hour AND has_src) AS lags_hour,
        countIf(in_day) AS n_day,
        countIf(in_day AND has_src) AS lagged_day,
        quantilesExactIf(0.5, 0.99)(lag, in_day AND has_src) AS lags_day
    FROM
    (
        SELECT
            tbl,
            prov,
            src,
            ins,
            isNotNull(src) AS has_src,
            toInt64(ins) - toInt64(assumeNotNull(src)) AS lag,
            ins >= now() - 3600 AS in_hour,
            ins >= now() - 86400 AS in_day
        FROM
        (
            SELECT
                'charging_sessions' AS tbl,
                provider AS prov,
                coalesce(source_updated_at, ended_at, started_at) AS src,
                inserted_at AS ins
            FROM chargeline.charging_sessions FINAL
            UNION ALL
            SELECT
                'invoices' AS tbl,
                provider AS prov,
                coalesce(source_updated_at, issued_at) AS src,
                inserted_at AS ins
            FROM chargeline.invoices FINAL
            UNION ALL
            SELECT
                'invoice_lines' AS tbl,
                provider AS prov,
                coalesce(source_updated_at, time) AS src,
                inserted_at AS ins
            FROM chargeline.invoice_lines FINAL
            UNION ALL
            SELECT
                'cost_centers' AS tbl,
                provider AS prov,
                coalesce(updated_at, created_at) AS src,
                inserted_at AS ins
            FROM chargeline.cost_centers FINAL
        )
    )
    GROUP BY tbl, prov
);
