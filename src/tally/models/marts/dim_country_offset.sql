-- Country offsets: one row per country of marts.dim_country with its zone's UTC offset over
-- the zone's latest stretch without an offset change, so that a business day inside the
-- stretch is worked out with arithmetic (the instant plus the offset) instead of a time-zone
-- conversion (subscription_mrr, subscription_revenue: DuckDB's conversion cost ~0.6 CPU s
-- per column of 6.2M rows at 1M subscriptions, the arithmetic ~0.1):
--   code, timezone  those of marts.dim_country
--   utc_offset      seconds east of UTC (DOUBLE: a zone may be off by quarter hours)
--   steady_from, steady_until  the stretch, as instants: steady_until is the last day
--                   sampled (2040-01-01); steady_from the day after the last sampled day
--                   whose offset differs from it (the first day sampled when none does)
-- The offset is sampled at every UTC midnight from 2000 to 2040 with the warehouse's own
-- conversion, so the arithmetic and the conversion give the same day on every backend (no
-- zone changes its offset and back within a day). An instant outside the stretch (before
-- it; a zone with daylight saving has a stretch of the months before 2040) is converted
-- as before: tests/marts/test_dim_country_offset.py checks the day against the conversion.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): rebuilt whole (a row
-- per country), only changed rows replaced; its readers declare it @every (a country's
-- stretch that changes reaches every key of theirs).
-- @range all
-- @unique code
WITH zone_days AS (
    SELECT z.code, z.timezone, d.day,
        epoch(CAST(d.day AT TIME ZONE z.timezone AS TIMESTAMP)) - epoch(d.day) AS utc_offset
    FROM marts.dim_country AS z
    CROSS JOIN generate_series(
        TIMESTAMPTZ '2000-01-01 00:00:00+00', TIMESTAMPTZ '2040-01-01 00:00:00+00',
        INTERVAL 1 DAY
    ) AS d(day)
)
SELECT d.code, d.timezone, l.utc_offset,
    coalesce(max(CASE WHEN d.utc_offset <> l.utc_offset THEN d.day END) + INTERVAL 1 DAY,
        min(d.day)) AS steady_from,
    l.day AS steady_until
FROM zone_days AS d
JOIN zone_days AS l ON l.code = d.code AND l.day = TIMESTAMPTZ '2040-01-01 00:00:00+00'
GROUP BY d.code, d.timezone, l.utc_offset, l.day
