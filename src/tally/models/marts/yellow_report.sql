-- The yellow report: web unique visitors (UV), UV who watched a video (UV with VV), and the
-- same two for visitors led in from Yahoo, per country, daily / weekly / monthly.
-- Uniques do not add up: a visitor on Monday and Tuesday is one weekly visitor, not two. So
-- weekly and monthly values are never sums of daily values; they are Google Analytics' own
-- counts for the whole week (ISO, Monday start) or month, as the GA source lands them each
-- day ("week so far", "month so far"); the landing with the latest period end is the value.
--   web_uv                  series web-uv, totalUsers
--   web_uv_with_vv          series web-uv-vv, totalUsers (users with a video view event)
--   yahoo_leadin_uv         series yahoo-leadin-uv, totalUsers
--   yahoo_leadin_uv_with_vv series yahoo-leadin-uv-vv, totalUsers
--   complete                the period's last day is loaded (otherwise: so far)
WITH series AS (
    SELECT series, resolution, period_start, period_end, country, metric, value
    FROM staging.google_analytics_web_uv
    UNION ALL
    SELECT series, resolution, period_start, period_end, country, metric, value
    FROM staging.google_analytics_web_uv_vv
    UNION ALL
    SELECT series, resolution, period_start, period_end, country, metric, value
    FROM staging.google_analytics_yahoo_leadin_uv
    UNION ALL
    SELECT series, resolution, period_start, period_end, country, metric, value
    FROM staging.google_analytics_yahoo_leadin_uv_vv
),
latest AS (
    SELECT *
    FROM series
    WHERE metric = 'totalUsers'
    QUALIFY row_number() OVER (
        PARTITION BY series, resolution, period_start, country ORDER BY period_end DESC
    ) = 1
)
SELECT
    resolution AS resolution_type,
    period_start AS start_date,
    max(period_end) AS period_end,
    country,
    sum(CASE WHEN series = 'web-uv' THEN value END) AS web_uv,
    sum(CASE WHEN series = 'web-uv-vv' THEN value END) AS web_uv_with_vv,
    sum(CASE WHEN series = 'yahoo-leadin-uv' THEN value END) AS yahoo_leadin_uv,
    sum(CASE WHEN series = 'yahoo-leadin-uv-vv' THEN value END) AS yahoo_leadin_uv_with_vv,
    max(period_end) = CASE resolution
        WHEN 'daily' THEN period_start
        WHEN 'weekly' THEN period_start + 6
        ELSE CAST(period_start + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE)
    END AS complete
FROM latest
GROUP BY resolution, period_start, country
