-- The report table (the seed's long layout): one row per metric value.
--   type            metric (definitions in the models it comes from):
--                   'Active subscriber'           stock at the end of the day / week / month
--                                                 (subscriber_total, subscriber_weekly/monthly);
--                                                 paid and grace-period subscriptions, and
--                                                 trials only with marts.trials_in_active
--                   'Active trial'                the trials' stock (meta_4 'Free trial'),
--                                                 unless marts.trials_in_active
--                   'Active subscriber (average)', 'Active trial (average)'
--                                                 mean daily stock over the week / month
--                   'New subscriber', 'Reactivation', 'Free trial', 'Renewal',
--                   'Trial conversion', 'Plan change', 'Churn', 'Refund'  flows (counts);
--                                                 Refund's meta_7 says 'Full' or 'Partial'
--                                                 from subscriber_daily; weekly and monthly
--                                                 are sums of the daily flows
--                   'Revenue'                     customer price, net of refunds
--                   'Proceeds'                    what the channel passes on, net of refunds
--                   'Refund amount'               the amount given back (positive), meta_7
--                                                 'Full' or 'Partial'
--   resolution_type 'daily', 'weekly' (ISO week, start_date its Monday), 'monthly'
--                   (start_date the 1st)
--   country, platform; meta_1 plan code, meta_2 channel name, meta_3 channel sector,
--   meta_4 payment status ('Paying', 'Free trial', 'Grace period'; money rows: NULL),
--   meta_5 currency (money rows only), meta_6 plan name from the IAP plan map's newest
--   snapshot (marts.dim_plan, by platform and plan code; NULL for a plan the map does not
--   list, or without a map); meta_7 'Full' / 'Partial' on Refund and Refund amount rows
--   (NULL elsewhere); meta_8 unused (NULL).
-- Rows whose value is 0 are left out: a missing row reads as 0 in the reports.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"):
--   each resolution's rows from the period holding the first changed day; the days from
--   the earlier of that week's and that month's first day
-- @range resolution start_date resolution_type
-- @reads marts.subscriber_daily WHERE day >= least(CAST(date_trunc('week', {since}) AS DATE), CAST(date_trunc('month', {since}) AS DATE))
-- @reads marts.subscriber_weekly WHERE period_start >= CAST(date_trunc('week', {since}) AS DATE)
-- @reads marts.subscriber_monthly WHERE period_start >= CAST(date_trunc('month', {since}) AS DATE)
-- @reads marts.revenue_daily WHERE day >= least(CAST(date_trunc('week', {since}) AS DATE), CAST(date_trunc('month', {since}) AS DATE))
WITH resolved AS (
    SELECT 'daily' AS resolution_type, day AS start_date, country, platform, plan_code,
        channel, channel_sector, payment_status, active,
        CAST(NULL AS DOUBLE) AS active_average,
        new_subscribers, reactivations, free_trials, renewals, trial_conversions,
        plan_changes, churn, refunds, partial_refunds
    FROM marts.subscriber_daily
    UNION ALL
    SELECT 'weekly', period_start, country, platform, plan_code, channel, channel_sector,
        payment_status, active_end, active_average, new_subscribers, reactivations,
        free_trials, renewals, trial_conversions, plan_changes, churn, refunds,
        partial_refunds
    FROM marts.subscriber_weekly
    UNION ALL
    SELECT 'monthly', period_start, country, platform, plan_code, channel, channel_sector,
        payment_status, active_end, active_average, new_subscribers, reactivations,
        free_trials, renewals, trial_conversions, plan_changes, churn, refunds,
        partial_refunds
    FROM marts.subscriber_monthly
),
money AS (
    SELECT 'daily' AS resolution_type, day AS start_date, country, platform, plan_code,
        channel, channel_sector, currency, customer_price, proceeds, refunded, refunded_partial
    FROM marts.revenue_daily
    UNION ALL
    SELECT 'weekly', CAST(date_trunc('week', day) AS DATE), country, platform, plan_code,
        channel, channel_sector, currency, customer_price, proceeds, refunded, refunded_partial
    FROM marts.revenue_daily
    UNION ALL
    SELECT 'monthly', CAST(date_trunc('month', day) AS DATE), country, platform, plan_code,
        channel, channel_sector, currency, customer_price, proceeds, refunded, refunded_partial
    FROM marts.revenue_daily
),
-- trials: their own stock type unless marts.trials_in_active puts them in Active subscriber
stock AS (
    SELECT r.*,
        CASE WHEN r.payment_status = 'Free trial' AND NOT z.trials_in_active
            THEN 'Active trial' ELSE 'Active subscriber' END AS stock_type
    FROM resolved AS r
    JOIN marts.dim_country AS z ON z.code = r.country
),
counts AS (
    SELECT stock_type AS type, resolution_type, start_date, country, platform,
        plan_code, channel, channel_sector, payment_status, CAST(NULL AS VARCHAR) AS scope,
        CAST(active AS DOUBLE) AS value
    FROM stock
    UNION ALL
    SELECT stock_type || ' (average)', resolution_type, start_date, country, platform,
        plan_code, channel, channel_sector, payment_status, NULL, active_average
    FROM stock WHERE active_average IS NOT NULL
    UNION ALL
    SELECT 'New subscriber', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, payment_status, NULL, new_subscribers
    FROM resolved
    UNION ALL
    SELECT 'Reactivation', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, payment_status, NULL, reactivations
    FROM resolved
    UNION ALL
    SELECT 'Free trial', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, payment_status, NULL, free_trials
    FROM resolved
    UNION ALL
    SELECT 'Renewal', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, payment_status, NULL, renewals
    FROM resolved
    UNION ALL
    SELECT 'Trial conversion', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, payment_status, NULL, trial_conversions
    FROM resolved
    UNION ALL
    SELECT 'Plan change', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, payment_status, NULL, plan_changes
    FROM resolved
    UNION ALL
    SELECT 'Churn', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, payment_status, NULL, churn
    FROM resolved
    UNION ALL
    SELECT 'Refund', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, payment_status, 'Full', refunds
    FROM resolved
    UNION ALL
    SELECT 'Refund', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, payment_status, 'Partial', partial_refunds
    FROM resolved
),
money_rows AS (
    SELECT 'Revenue' AS type, resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, currency,
        CAST(CAST(sum(customer_price) AS DECIMAL(18, 2)) AS DOUBLE) AS value
    FROM money
    GROUP BY resolution_type, start_date, country, platform, plan_code, channel,
        channel_sector, currency
    UNION ALL
    SELECT 'Proceeds', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, currency,
        CAST(CAST(sum(proceeds) AS DECIMAL(18, 2)) AS DOUBLE)
    FROM money
    GROUP BY resolution_type, start_date, country, platform, plan_code, channel,
        channel_sector, currency
),
refund_money AS (
    SELECT 'Refund amount' AS type, resolution_type, start_date, country, platform,
        plan_code, channel, channel_sector, currency, 'Full' AS scope,
        CAST(CAST(sum(refunded) - sum(refunded_partial) AS DECIMAL(18, 2)) AS DOUBLE) AS value
    FROM money
    GROUP BY resolution_type, start_date, country, platform, plan_code, channel,
        channel_sector, currency
    UNION ALL
    SELECT 'Refund amount', resolution_type, start_date, country, platform, plan_code,
        channel, channel_sector, currency, 'Partial',
        CAST(CAST(sum(refunded_partial) AS DECIMAL(18, 2)) AS DOUBLE)
    FROM money
    GROUP BY resolution_type, start_date, country, platform, plan_code, channel,
        channel_sector, currency
),
facts AS (
    SELECT
        CAST(type AS VARCHAR) AS type,
        CAST(resolution_type AS VARCHAR) AS resolution_type,
        CAST(country AS VARCHAR) AS country,
        CAST(platform AS VARCHAR) AS platform,
        CAST(start_date AS DATE) AS start_date,
        CAST(plan_code AS VARCHAR) AS meta_1,
        CAST(channel AS VARCHAR) AS meta_2,
        CAST(channel_sector AS VARCHAR) AS meta_3,
        CAST(payment_status AS VARCHAR) AS meta_4,
        CAST(NULL AS VARCHAR) AS meta_5,
        CAST(NULL AS VARCHAR) AS meta_6,
        CAST(scope AS VARCHAR) AS meta_7,
        CAST(NULL AS VARCHAR) AS meta_8,
        CAST(value AS DOUBLE) AS value
    FROM counts
    WHERE value <> 0
    UNION ALL
    SELECT
        type, resolution_type, country, platform, CAST(start_date AS DATE), plan_code, channel,
        channel_sector, CAST(NULL AS VARCHAR), currency, CAST(NULL AS VARCHAR),
        CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(value AS DOUBLE)
    FROM money_rows
    WHERE value <> 0
    UNION ALL
    SELECT
        type, resolution_type, country, platform, CAST(start_date AS DATE), plan_code, channel,
        channel_sector, CAST(NULL AS VARCHAR), currency, CAST(NULL AS VARCHAR),
        CAST(scope AS VARCHAR), CAST(NULL AS VARCHAR), CAST(value AS DOUBLE)
    FROM refund_money
    WHERE value <> 0
)
SELECT
    f.type, f.resolution_type, f.country, f.platform, f.start_date, f.meta_1, f.meta_2,
    f.meta_3, f.meta_4, f.meta_5,
    CAST(p.plan_name AS VARCHAR) AS meta_6,
    f.meta_7, f.meta_8, f.value
FROM facts AS f
LEFT JOIN marts.dim_plan AS p ON p.platform = f.platform AND p.plan_code = f.meta_1
