-- Attribution by channel and campaign: the new subscriptions of each start day, per
-- attribution model (subscription_attribution), site, channel, campaign, country, platform
-- and currency, with what they became:
--   subscriptions      new subscriptions (trial or paid start)
--   trials             of those, started as a free trial
--   paid               of those, paid at least once (a trial converted, or bought outright)
--   trial_conversions  trials that were paid
--   revenue            what they paid to the newest loaded day, net of refunds (currency);
--                      revenue_reporting converted at each payment's day's rate
--   mrr_reporting      their MRR on the newest loaded day (in the reporting currency)
-- Realised LTV per subscription = revenue / subscriptions (per paying one: / paid).
-- Counts add up over currencies (a subscription never paid has currency NULL); money only
-- within one currency, or in the reporting currency.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): rebuilt whole (a new
-- newest day moves the revenue and current MRR of every start day), in the daily build's
-- one transaction with the ranged models; replaced whole when any row differs (site,
-- campaign and currency may be NULL, so no unique key matches by =):
-- @range all
WITH current_mrr AS (
    SELECT m.subscription_id, sum(m.mrr_reporting) AS mrr_reporting,
        count(*) - count(m.mrr_reporting) AS unconverted
    FROM marts.subscription_mrr AS m
    CROSS JOIN marts.subscription_bounds AS b
    WHERE m.period_start <= b.horizon AND m.period_end > b.horizon
    GROUP BY m.subscription_id
)
SELECT
    a.model, a.start_day, a.idsite, a.channel, a.campaign, a.country, a.platform,
    r.currency,
    CAST(count(*) AS BIGINT) AS subscriptions,
    CAST(sum(CASE WHEN a.first_kind = 'trial' THEN 1 ELSE 0 END) AS BIGINT) AS trials,
    CAST(sum(CASE WHEN r.first_paid_day IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS paid,
    CAST(sum(CASE WHEN a.first_kind = 'trial' AND r.first_paid_day IS NOT NULL THEN 1 ELSE 0 END)
        AS BIGINT) AS trial_conversions,
    CAST(CAST(coalesce(sum(r.revenue), 0) AS DECIMAL(18, 2)) AS DOUBLE) AS revenue,
    CAST(CASE WHEN count(r.subscription_id) = count(r.revenue_reporting)
        THEN CAST(coalesce(sum(r.revenue_reporting), 0) AS DECIMAL(18, 2)) END AS DOUBLE)
        AS revenue_reporting,
    CAST(CASE WHEN coalesce(sum(m.unconverted), 0) = 0
        THEN CAST(coalesce(sum(m.mrr_reporting), 0) AS DECIMAL(18, 2)) END AS DOUBLE)
        AS mrr_reporting
FROM (
    -- one row per model (subscription_attribution has both models in one row)
    SELECT 'First touch' AS model, subscription_id, start_day, first_kind, country, platform,
        first_idsite AS idsite, first_channel AS channel, first_campaign AS campaign
    FROM marts.subscription_attribution
    UNION ALL
    SELECT 'Last touch', subscription_id, start_day, first_kind, country, platform,
        last_idsite, last_channel, last_campaign
    FROM marts.subscription_attribution
) AS a
LEFT JOIN marts.subscription_revenue AS r ON r.subscription_id = a.subscription_id
LEFT JOIN current_mrr AS m ON m.subscription_id = a.subscription_id
GROUP BY a.model, a.start_day, a.idsite, a.channel, a.campaign, a.country, a.platform,
    r.currency
