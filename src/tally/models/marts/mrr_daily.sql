-- MRR daily: the monthly recurring revenue stock at the end of each business day, per
-- country, platform, plan, channel, sector and currency: the sum of the MRR of the MRR
-- periods (subscription_mrr) with access at the day's end, carried forward like
-- subscriber_total (plus at a period's start, minus at its end).
--   mrr, mrr_reporting  in `currency` / in reporting_currency (NULL while any period
--                       counted lacks a rate); ARR is 12 * MRR
--   paying             subscriptions with MRR at the day's end (ARPPU = mrr / paying)
-- Days from the first loaded day to the newest; rows with nothing paying left out. Amounts
-- are added up as decimals (6 places): a day's stock never depends on the order (or on
-- the periods ended before it) the sum went through.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): by day; the stock
-- on a day and after is the periods ending after it (a period ended before adds and takes
-- away its MRR before that day):
-- @range day day
-- @reads marts.subscription_mrr WHERE period_end > {since}
WITH moves AS (
    SELECT segment_id, period_start AS day, CAST(mrr AS DECIMAL(18, 6)) AS mrr,
        CAST(mrr_reporting AS DECIMAL(18, 6)) AS mrr_reporting,
        CASE WHEN mrr_reporting IS NULL THEN 1 ELSE 0 END AS unconverted, 1 AS paying
    FROM marts.subscription_mrr
    UNION ALL
    SELECT segment_id, period_end, -CAST(mrr AS DECIMAL(18, 6)),
        -coalesce(CAST(mrr_reporting AS DECIMAL(18, 6)), 0),
        CASE WHEN mrr_reporting IS NULL THEN -1 ELSE 0 END, -1
    FROM marts.subscription_mrr
    WHERE period_end <= (SELECT horizon FROM marts.subscription_bounds)
),
bounds AS (
    SELECT b.data_start, b.horizon, m.first_day
    FROM marts.subscription_bounds AS b
    CROSS JOIN (SELECT min(period_start) AS first_day FROM marts.subscription_mrr) AS m
),
calendar AS (
    SELECT CAST(d AS DATE) AS day
    FROM bounds,
        generate_series(
            CAST(bounds.first_day AS TIMESTAMP), CAST(bounds.horizon AS TIMESTAMP),
            INTERVAL 1 DAY
        ) AS days(d)
),
-- the moves have one reader (with two, DuckDB would write them all down first): per day
-- and segment, then the segments from those groups (decimal sums: the same whichever way
-- they are added). A segment is subscription_mrr's one number for country, platform, plan,
-- channel, sector and currency: grouped as is, named (marts.dim_segment) in the result
-- rows only
daily_moves AS (
    SELECT segment_id, day,
        sum(mrr) AS mrr, sum(coalesce(mrr_reporting, CAST(0 AS DECIMAL(18, 6))))
            AS mrr_reporting,
        sum(unconverted) AS unconverted, sum(paying) AS paying
    FROM moves
    GROUP BY segment_id, day
),
segments AS (
    SELECT DISTINCT segment_id FROM daily_moves
),
carried AS (
    SELECT
        c.day, s.segment_id,
        sum(coalesce(m.mrr, CAST(0 AS DECIMAL(18, 6)))) OVER running AS mrr,
        sum(coalesce(m.mrr_reporting, CAST(0 AS DECIMAL(18, 6)))) OVER running
            AS mrr_reporting,
        sum(coalesce(m.unconverted, 0)) OVER running AS unconverted,
        sum(coalesce(m.paying, 0)) OVER running AS paying
    FROM calendar AS c
    CROSS JOIN segments AS s
    LEFT JOIN daily_moves AS m ON m.day = c.day AND m.segment_id = s.segment_id
    WINDOW running AS (
        PARTITION BY s.segment_id
        ORDER BY c.day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
)
SELECT
    c.day, g.country, g.platform, g.plan_code, g.channel, g.channel_sector, g.currency,
    (SELECT max(reporting_currency) FROM marts.dim_exchange_rate) AS reporting_currency,
    CAST(CAST(c.mrr AS DECIMAL(18, 2)) AS DOUBLE) AS mrr,
    CAST(CASE WHEN c.unconverted = 0 THEN CAST(c.mrr_reporting AS DECIMAL(18, 2)) END AS DOUBLE)
        AS mrr_reporting,
    CAST(c.paying AS BIGINT) AS paying
FROM carried AS c
JOIN marts.dim_segment AS g ON g.segment_id = c.segment_id
CROSS JOIN bounds AS b
WHERE c.day >= b.data_start AND c.paying <> 0
