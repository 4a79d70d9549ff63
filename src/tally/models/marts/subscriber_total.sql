-- Subscriber total: the seed's "recurring calculation" of the active-subscriber stock.
-- Active subscriber (a stock, at the end of each business day in the country's time zone):
--   active(d) = active(d-1) + moved_in(d) - moved_out(d), carried forward from the first span
-- where, per (country, platform, plan, channel, sector, payment status):
--   moved_in(d)  spans starting on d: starts, reactivations, and moves between statuses or
--                plans (trial -> paid, grace -> paid, plan change)
--   moved_out(d) spans ending on d: expiries (churn), refunds, and the same moves out
-- Summed over statuses and plans the moves cancel, leaving starts - expiries. A subscriber
-- with auto-renew off stays active until expiry; grace period counts (payment status
-- 'Grace period'); billing retry does not (it is the gap between periods).
-- Rows run from the first loaded day to the newest (data_start .. horizon); days before the
-- first load are only partly known and are left out. Rows where everything is 0 are left out.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"):
--   a day's stock counts every span still open on it: the spans ending on or after the
--   first changed day give the same counts from that day on
-- @range day day
-- @reads marts.subscription_spans WHERE span_end >= {since}
WITH moves AS (
    SELECT country, platform, plan_code, channel, channel_sector, payment_status,
        span_start AS day, 1 AS moved_in, 0 AS moved_out
    FROM marts.subscription_spans
    UNION ALL
    SELECT country, platform, plan_code, channel, channel_sector, payment_status,
        span_end AS day, 0 AS moved_in, 1 AS moved_out
    FROM marts.subscription_spans
    WHERE span_end <= (SELECT horizon FROM marts.subscription_bounds)
),
bounds AS (
    SELECT b.data_start, b.horizon, s.first_span
    FROM marts.subscription_bounds AS b
    CROSS JOIN (SELECT min(span_start) AS first_span FROM marts.subscription_spans) AS s
),
calendar AS (
    SELECT CAST(d AS DATE) AS day
    FROM bounds,
        generate_series(
            CAST(bounds.first_span AS TIMESTAMP), CAST(bounds.horizon AS TIMESTAMP),
            INTERVAL 1 DAY
        ) AS days(d)
),
daily_moves AS (
    SELECT country, platform, plan_code, channel, channel_sector, payment_status, day,
        sum(moved_in) AS moved_in, sum(moved_out) AS moved_out
    FROM moves
    GROUP BY country, platform, plan_code, channel, channel_sector, payment_status, day
),
-- the segments that moved, from the moves already grouped by day (the same segments as a
-- DISTINCT over every move, from far fewer rows: 13M moves at 1M subscriptions)
segments AS (
    SELECT DISTINCT country, platform, plan_code, channel, channel_sector, payment_status
    FROM daily_moves
),
carried AS (
    SELECT
        c.day, s.country, s.platform, s.plan_code, s.channel, s.channel_sector,
        s.payment_status,
        coalesce(m.moved_in, 0) AS moved_in,
        coalesce(m.moved_out, 0) AS moved_out,
        sum(coalesce(m.moved_in, 0) - coalesce(m.moved_out, 0)) OVER (
            PARTITION BY s.country, s.platform, s.plan_code, s.channel, s.channel_sector,
                s.payment_status
            ORDER BY c.day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS active
    FROM calendar AS c
    CROSS JOIN segments AS s
    LEFT JOIN daily_moves AS m
        ON m.day = c.day AND m.country = s.country AND m.platform = s.platform
        AND m.plan_code = s.plan_code AND m.channel = s.channel
        AND m.channel_sector = s.channel_sector AND m.payment_status = s.payment_status
)
SELECT
    day, country, platform, plan_code, channel, channel_sector, payment_status,
    CAST(moved_in AS BIGINT) AS moved_in,
    CAST(moved_out AS BIGINT) AS moved_out,
    CAST(active - moved_in + moved_out AS BIGINT) AS active_opening,
    CAST(active AS BIGINT) AS active
FROM carried
CROSS JOIN bounds AS b
WHERE day >= b.data_start AND (active <> 0 OR moved_in <> 0 OR moved_out <> 0)
