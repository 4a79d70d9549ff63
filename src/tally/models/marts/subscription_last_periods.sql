-- Each subscription's latest period, with what the daily build needs to extend it from a
-- new day's rows without reading the subscription's earlier periods or transactions (see
-- pipeline/extension.py). Working state of the incremental build; no report reads it.
--   earlier_max_end    latest end among the subscription's earlier periods (NULL: none)
--   first_known_start  start of its first period a row described (a stand-in is not one)
--   previous_start     start of the period before it (NULL: none)
-- and the period's own columns, _user_hash (hash(user_id)) among them: the daily build finds
-- the day's users' rows by this one number per row, then by user_id among the rows it
-- picked (pipeline/extension.py); PostgreSQL's hash is hashtextextended. Those rows sit in
-- every block (the day's subscriptions are mostly, not all, those whose latest period ends
-- then), so reading them decodes each column's every block: user_id, nearly one value a
-- row, is stored uncompressed (DuckDB; at 1M subscriptions the day's users' rows 0.065 ->
-- 0.043 CPU s, their user_id 0.030 -> 0.009; subscription_id gains nothing, one-off
-- figures taken beside benchmarks/daily_build_profile.py's tails statement)
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"):
--   by subscription, through the periods' fast path (pipeline/extension.py)
-- @range key subscription_id
-- @unique subscription_id
-- @reads marts.subscription_periods WHERE subscription_id IN {keys}
-- @uncompressed user_id
WITH latest AS (
    SELECT
        subscription_id,
        max(period_start) AS period_start,
        min(CASE WHEN source_rank IS NOT NULL THEN period_start END) AS first_known_start
    FROM marts.subscription_periods
    GROUP BY subscription_id
),
earlier AS (
    SELECT p.subscription_id, max(p.period_end) AS earlier_max_end,
        max(p.period_start) AS previous_start
    FROM marts.subscription_periods AS p
    JOIN latest AS l
        ON l.subscription_id = p.subscription_id AND p.period_start < l.period_start
    GROUP BY p.subscription_id
)
SELECT p.*, e.earlier_max_end, l.first_known_start, e.previous_start
FROM marts.subscription_periods AS p
JOIN latest AS l ON l.subscription_id = p.subscription_id AND l.period_start = p.period_start
LEFT JOIN earlier AS e ON e.subscription_id = p.subscription_id
-- in order of end, like subscription_periods.sql: the day's subscriptions are mostly those
-- whose latest period ends about then, so their rows sit together
ORDER BY p.period_end
