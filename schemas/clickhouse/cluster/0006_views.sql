-- 0006 (cluster): the analysts' views of schemas/clickhouse/0006_views.sql, created on every
-- server. Their bodies are identical to the single-server ones: they read the Distributed tables,
-- and FINAL is applied on each shard, which holds every version of its ids (see 0002).
CREATE VIEW IF NOT EXISTS chargeline.charging_sessions_current ON CLUSTER '{{cluster}}' AS
SELECT * FROM chargeline.charging_sessions FINAL;

CREATE VIEW IF NOT EXISTS chargeline.invoices_current ON CLUSTER '{{cluster}}' AS
SELECT * FROM chargeline.invoices FINAL;

CREATE VIEW IF NOT EXISTS chargeline.cost_centers_current ON CLUSTER '{{cluster}}' AS
SELECT * FROM chargeline.cost_centers FINAL;

-- One row per day, provider, country, currency and unit (quantities in different units are
-- never added up). day is the UTC date the session started (ended, when the start is unknown).
-- Sessions with neither time are left out.
-- The inner query renames the summed columns so no alias of the outer one shadows a column it
-- sums (newer analyzers reject `sum(quantity) AS quantity`).
CREATE VIEW IF NOT EXISTS chargeline.charging_sessions_daily ON CLUSTER '{{cluster}}' AS
SELECT
    day,
    provider,
    country,
    currency,
    unit,
    count() AS sessions,
    sum(q) AS quantity,
    sum(e) AS energy_kwh,
    sum(a) AS amount
FROM
(
    SELECT
        toDate(assumeNotNull(ifNull(started_at, ended_at))) AS day,
        provider,
        location_country_code AS country,
        currency,
        unit,
        quantity AS q,
        energy_kwh AS e,
        total_amount AS a
    FROM chargeline.charging_sessions FINAL
    WHERE isNotNull(ifNull(started_at, ended_at))
)
GROUP BY day, provider, country, currency, unit;
