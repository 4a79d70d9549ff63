-- Telco performance: the telco partners' own daily figures (the telco-performance sheet,
-- staging.telco_performance, latest correction of each day) beside tally's Telco numbers
-- for the same day, country and plan (channel name = the sheet's telco, e.g. CSL).
--   sheet_new / tally_new              new subscriptions; tally: New subscriber + Reactivation
--   sheet_cancelled / tally_churn      cancellations; tally: Churn (access ended that day)
--   sheet_active / tally_active        active at the end of the day
--   sheet_revenue / tally_revenue      the sheet's revenue; tally: customer price, same currency
WITH tally AS (
    SELECT day, country, channel, plan_code,
        sum(new_subscribers + reactivations) AS tally_new,
        sum(churn) AS tally_churn,
        sum(active) AS tally_active
    FROM marts.subscriber_daily
    WHERE platform = 'Telco'
    GROUP BY day, country, channel, plan_code
),
money AS (
    SELECT day, country, channel, plan_code, currency, sum(customer_price) AS tally_revenue
    FROM marts.revenue_daily
    WHERE platform = 'Telco'
    GROUP BY day, country, channel, plan_code, currency
)
SELECT
    s.date AS day, s.country, s.telco, s.plan_code, s.currency,
    s.new_subscriptions AS sheet_new,
    CAST(coalesce(t.tally_new, 0) AS BIGINT) AS tally_new,
    s.cancelled_subscriptions AS sheet_cancelled,
    CAST(coalesce(t.tally_churn, 0) AS BIGINT) AS tally_churn,
    s.active_subscriptions AS sheet_active,
    CAST(coalesce(t.tally_active, 0) AS BIGINT) AS tally_active,
    s.revenue AS sheet_revenue,
    coalesce(m.tally_revenue, 0) AS tally_revenue
FROM staging.telco_performance AS s
LEFT JOIN tally AS t
    ON t.day = s.date AND t.country = s.country AND t.channel = s.telco
    AND t.plan_code = s.plan_code
LEFT JOIN money AS m
    ON m.day = s.date AND m.country = s.country AND m.channel = s.telco
    AND m.plan_code = s.plan_code AND m.currency = s.currency
-- only days tally has loaded: the sheet repeats the whole month so far
WHERE s.date BETWEEN (SELECT min(day) FROM marts.subscriber_daily)
    AND (SELECT max(day) FROM marts.subscriber_daily)
