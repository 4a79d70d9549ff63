-- Subscription fact: the recurring-revenue metrics and the converted money, in the long
-- layout of report_fact (the same fourteen columns), in a table of its own: report_fact is
-- built by the daily build day by day, these whole (docs/metrics.md, "Recurring revenue").
--   type            'MRR', 'ARR' (12 * MRR), 'Paying subscriber'   stocks at the end of the
--                   day / week / month (the newest loaded day while it runs)
--                   'New MRR', 'Expansion MRR', 'Contraction MRR', 'Churn MRR',
--                   'Reactivation MRR'   signed flows (contraction and churn negative),
--                   weekly and monthly the sums of the daily ones
--                   'Exchange rate MRR'  (converted rows only) the change of continuing
--                   MRR from a newer rate
--                   'Revenue', 'Proceeds', 'Refund amount'  converted rows only (their own
--                   currency is in report_fact)
--                   'ARPU'  MRR / active subscriptions (paid, grace, trials and free ones),
--                   'ARPPU' MRR / paying subscriptions: ratios, per country and platform
--                   only (meta_1..4 NULL), converted rows only; never add them up
--   meta_1 plan code, meta_2 channel, meta_3 sector, meta_4 NULL, meta_5 currency,
--   meta_6 plan name, meta_7 NULL,
--   meta_8          NULL: meta_5 is the money's own currency; 'Converted': converted to the
--                   reporting currency (meta_5) at the day's rate. Sum one meta_5 and one
--                   meta_8 at a time; a figure whose rate is missing is left out.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): per resolution, from
-- the day, week or month holding the first day that moved, as report_fact:
-- @range resolution start_date resolution_type
-- @reads marts.mrr_daily WHERE day >= least(CAST(date_trunc('week', {since}) AS DATE), CAST(date_trunc('month', {since}) AS DATE))
-- @reads marts.mrr_movements WHERE day >= least(CAST(date_trunc('week', {since}) AS DATE), CAST(date_trunc('month', {since}) AS DATE))
-- @reads marts.revenue_converted WHERE day >= least(CAST(date_trunc('week', {since}) AS DATE), CAST(date_trunc('month', {since}) AS DATE))
-- @reads marts.subscriber_total WHERE day >= least(CAST(date_trunc('week', {since}) AS DATE), CAST(date_trunc('month', {since}) AS DATE))
WITH bounds AS (
    SELECT data_start, horizon FROM marts.subscription_bounds
),
periods AS (
    SELECT 'daily' AS resolution_type, d.day, d.day AS start_date, d.day AS last_day
    FROM (SELECT DISTINCT day FROM marts.mrr_daily) AS d
    UNION ALL
    SELECT 'weekly', d.day, CAST(date_trunc('week', d.day) AS DATE),
        least(CAST(date_trunc('week', d.day) AS DATE) + 6, b.horizon)
    FROM (SELECT DISTINCT day FROM marts.mrr_daily) AS d CROSS JOIN bounds AS b
    UNION ALL
    SELECT 'monthly', d.day, CAST(date_trunc('month', d.day) AS DATE),
        least(CAST(CAST(date_trunc('month', d.day) AS DATE) + INTERVAL 1 MONTH
            - INTERVAL 1 DAY AS DATE), b.horizon)
    FROM (SELECT DISTINCT day FROM marts.mrr_daily) AS d CROSS JOIN bounds AS b
),
stock AS (
    SELECT p.resolution_type, p.start_date, m.*
    FROM marts.mrr_daily AS m
    JOIN periods AS p ON p.day = m.day AND p.last_day = m.day
),
stock_rows AS (
    SELECT 'MRR' AS type, resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, currency AS money, NULL AS converted, mrr AS value
    FROM stock
    UNION ALL
    SELECT 'MRR', resolution_type, start_date, country, platform, plan_code, channel,
        channel_sector, reporting_currency, 'Converted', mrr_reporting
    FROM stock
    UNION ALL
    SELECT 'ARR', resolution_type, start_date, country, platform, plan_code, channel,
        channel_sector, currency, NULL, 12 * mrr
    FROM stock
    UNION ALL
    SELECT 'ARR', resolution_type, start_date, country, platform, plan_code, channel,
        channel_sector, reporting_currency, 'Converted', 12 * mrr_reporting
    FROM stock
    UNION ALL
    SELECT 'Paying subscriber', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, NULL, NULL, paying
    FROM stock
),
movements AS (
    SELECT p.resolution_type, p.start_date, m.*
    FROM marts.mrr_movements AS m
    JOIN periods AS p ON p.day = m.day
),
movement_rows AS (
    SELECT m.movement || ' MRR' AS type, resolution_type, start_date, country, platform,
        plan_code, channel, channel_sector, currency AS money, NULL AS converted,
        sum(mrr) AS value
    FROM movements AS m
    WHERE m.movement <> 'Exchange rate'
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
    UNION ALL
    SELECT m.movement || ' MRR', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, reporting_currency, 'Converted',
        CASE WHEN count(*) = count(mrr_reporting) THEN sum(mrr_reporting) END
    FROM movements AS m
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
),
money AS (
    SELECT p.resolution_type, p.start_date, r.*
    FROM marts.revenue_converted AS r
    JOIN periods AS p ON p.day = r.day
),
money_rows AS (
    SELECT 'Revenue' AS type, resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, reporting_currency AS money, 'Converted' AS converted,
        CASE WHEN count(*) = count(customer_price_reporting)
            THEN sum(customer_price_reporting) END AS value
    FROM money
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
    UNION ALL
    SELECT 'Proceeds', resolution_type, start_date, country, platform, plan_code, channel,
        channel_sector, reporting_currency, 'Converted',
        CASE WHEN count(*) = count(proceeds_reporting) THEN sum(proceeds_reporting) END
    FROM money
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
    UNION ALL
    SELECT 'Refund amount', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, reporting_currency, 'Converted',
        CASE WHEN count(*) = count(refunded_reporting) THEN sum(refunded_reporting) END
    FROM money
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
),
active AS (
    SELECT p.resolution_type, p.start_date, t.country, t.platform, sum(t.active) AS active
    FROM marts.subscriber_total AS t
    JOIN periods AS p ON p.day = t.day AND p.last_day = t.day
    GROUP BY p.resolution_type, p.start_date, t.country, t.platform
),
per_platform AS (
    SELECT resolution_type, start_date, country, platform, reporting_currency,
        CASE WHEN count(*) = count(mrr_reporting) THEN sum(mrr_reporting) END AS mrr,
        sum(paying) AS paying
    FROM stock
    GROUP BY resolution_type, start_date, country, platform, reporting_currency
),
ratio_rows AS (
    SELECT 'ARPU' AS type, s.resolution_type, s.start_date, s.country, s.platform,
        NULL AS plan_code, NULL AS channel, NULL AS channel_sector,
        s.reporting_currency AS money, 'Converted' AS converted,
        s.mrr / nullif(a.active, 0) AS value
    FROM per_platform AS s
    LEFT JOIN active AS a
        ON a.resolution_type = s.resolution_type AND a.start_date = s.start_date
        AND a.country = s.country AND a.platform = s.platform
    UNION ALL
    SELECT 'ARPPU', resolution_type, start_date, country, platform, NULL, NULL, NULL,
        reporting_currency, 'Converted', mrr / nullif(paying, 0)
    FROM per_platform
),
facts AS (
    SELECT type, resolution_type, start_date, country, platform, plan_code, channel,
        channel_sector, money, converted,
        CAST(CAST(value AS DECIMAL(18, 2)) AS DOUBLE) AS value
    FROM (
        SELECT * FROM stock_rows
        UNION ALL SELECT * FROM movement_rows
        UNION ALL SELECT * FROM money_rows
        UNION ALL SELECT * FROM ratio_rows
    ) AS everything
)
SELECT
    CAST(f.type AS VARCHAR) AS type,
    CAST(f.resolution_type AS VARCHAR) AS resolution_type,
    CAST(f.country AS VARCHAR) AS country,
    CAST(f.platform AS VARCHAR) AS platform,
    CAST(f.start_date AS DATE) AS start_date,
    CAST(f.plan_code AS VARCHAR) AS meta_1,
    CAST(f.channel AS VARCHAR) AS meta_2,
    CAST(f.channel_sector AS VARCHAR) AS meta_3,
    CAST(NULL AS VARCHAR) AS meta_4,
    CAST(f.money AS VARCHAR) AS meta_5,
    CAST(p.plan_name AS VARCHAR) AS meta_6,
    CAST(NULL AS VARCHAR) AS meta_7,
    CAST(f.converted AS VARCHAR) AS meta_8,
    CAST(f.value AS DOUBLE) AS value
FROM facts AS f
LEFT JOIN marts.dim_plan AS p ON p.platform = f.platform AND p.plan_code = f.plan_code
WHERE f.value IS NOT NULL AND f.value <> 0
