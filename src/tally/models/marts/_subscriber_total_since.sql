-- The recurring total from one day on, for the incremental build (not a model: the leading
-- underscore keeps the build from running it). Same definition as subscriber_total.sql:
--   active(d) = active(d-1) + moved_in(d) - moved_out(d)
-- carried forward from the stored count at the end of the day before `since`, a date the
-- build writes in as a literal where it says {since} (a literal, unlike a parameter or a
-- subquery, lets the scans of the spans skip every older span).
WITH bounds AS (
    SELECT DATE '{since}' AS since, horizon FROM marts.subscription_bounds
),
moves AS (
    SELECT country, platform, plan_code, channel, channel_sector, payment_status,
        span_start AS day, 1 AS moved_in, 0 AS moved_out
    FROM marts.subscription_spans
    WHERE span_start >= DATE '{since}'
    UNION ALL
    SELECT country, platform, plan_code, channel, channel_sector, payment_status,
        span_end AS day, 0 AS moved_in, 1 AS moved_out
    FROM marts.subscription_spans
    WHERE span_end >= DATE '{since}' AND span_end <= (SELECT horizon FROM bounds)
),
opening AS (
    SELECT country, platform, plan_code, channel, channel_sector, payment_status,
        sum(active) AS active
    FROM marts.subscriber_total
    WHERE day = DATE '{since}' - 1
    GROUP BY country, platform, plan_code, channel, channel_sector, payment_status
),
segments AS (
    SELECT country, platform, plan_code, channel, channel_sector, payment_status FROM moves
    UNION
    SELECT country, platform, plan_code, channel, channel_sector, payment_status FROM opening
),
calendar AS (
    SELECT CAST(d AS DATE) AS day
    FROM bounds,
        generate_series(
            CAST(bounds.since AS TIMESTAMP), CAST(bounds.horizon AS TIMESTAMP), INTERVAL 1 DAY
        ) AS days(d)
),
daily_moves AS (
    SELECT country, platform, plan_code, channel, channel_sector, payment_status, day,
        sum(moved_in) AS moved_in, sum(moved_out) AS moved_out
    FROM moves
    GROUP BY country, platform, plan_code, channel, channel_sector, payment_status, day
),
carried AS (
    SELECT
        c.day, s.country, s.platform, s.plan_code, s.channel, s.channel_sector,
        s.payment_status,
        coalesce(m.moved_in, 0) AS moved_in,
        coalesce(m.moved_out, 0) AS moved_out,
        coalesce(o.active, 0) + sum(coalesce(m.moved_in, 0) - coalesce(m.moved_out, 0)) OVER (
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
    LEFT JOIN opening AS o
        ON o.country = s.country AND o.platform = s.platform AND o.plan_code = s.plan_code
        AND o.channel = s.channel AND o.channel_sector = s.channel_sector
        AND o.payment_status = s.payment_status
)
SELECT
    day, country, platform, plan_code, channel, channel_sector, payment_status,
    CAST(moved_in AS BIGINT) AS moved_in,
    CAST(moved_out AS BIGINT) AS moved_out,
    CAST(active - moved_in + moved_out AS BIGINT) AS active_opening,
    CAST(active AS BIGINT) AS active
FROM carried
WHERE active <> 0 OR moved_in <> 0 OR moved_out <> 0
