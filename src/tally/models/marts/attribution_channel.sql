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
),
-- each subscription joined to its revenue and current MRR once (joining after the two
-- models were stacked joined every subscription twice), and the subscriptions alike in
-- every column the two models group by added up first: the models then stack and group
-- those sums, not every subscription twice (at 1M subscriptions, busy, alone: 0.48-0.59
-- -> 0.44-0.47 CPU s). Money is added up as decimals (2 places, as subscription_revenue
-- rounds it): the same sum whichever way the rows are grouped
subscriptions AS (
    SELECT a.start_day, a.country, a.platform,
        a.first_idsite, a.first_channel, a.first_campaign,
        a.last_idsite, a.last_channel, a.last_campaign, r.currency,
        count(*) AS subscriptions,
        sum(CASE WHEN a.first_kind = 'trial' THEN 1 ELSE 0 END) AS trials,
        sum(CASE WHEN r.first_paid_day IS NOT NULL THEN 1 ELSE 0 END) AS paid,
        sum(CASE WHEN a.first_kind = 'trial' AND r.first_paid_day IS NOT NULL THEN 1 ELSE 0 END)
            AS trial_conversions,
        sum(CAST(r.revenue AS DECIMAL(18, 2))) AS revenue,
        count(r.subscription_id) AS revenue_rows,
        count(r.revenue_reporting) AS converted_rows,
        sum(CAST(r.revenue_reporting AS DECIMAL(18, 2))) AS revenue_reporting,
        sum(m.mrr_reporting) AS mrr_reporting, sum(m.unconverted) AS unconverted
    FROM marts.subscription_attribution AS a
    LEFT JOIN marts.subscription_revenue AS r ON r.subscription_id = a.subscription_id
    LEFT JOIN current_mrr AS m ON m.subscription_id = a.subscription_id
    GROUP BY a.start_day, a.country, a.platform, a.first_idsite, a.first_channel,
        a.first_campaign, a.last_idsite, a.last_channel, a.last_campaign, r.currency
),
touched AS (
    SELECT t.model, s.*,
        CASE t.model WHEN 'First touch' THEN s.first_idsite ELSE s.last_idsite END AS idsite,
        CASE t.model WHEN 'First touch' THEN s.first_channel ELSE s.last_channel END
            AS channel,
        CASE t.model WHEN 'First touch' THEN s.first_campaign ELSE s.last_campaign END
            AS campaign
    FROM subscriptions AS s
    CROSS JOIN (VALUES ('First touch'), ('Last touch')) AS t(model)
)
SELECT
    a.model, a.start_day, a.idsite, a.channel, a.campaign, a.country, a.platform,
    a.currency,
    CAST(sum(a.subscriptions) AS BIGINT) AS subscriptions,
    CAST(sum(a.trials) AS BIGINT) AS trials,
    CAST(sum(a.paid) AS BIGINT) AS paid,
    CAST(sum(a.trial_conversions) AS BIGINT) AS trial_conversions,
    CAST(CAST(coalesce(sum(a.revenue), 0) AS DECIMAL(18, 2)) AS DOUBLE) AS revenue,
    CAST(CASE WHEN sum(a.revenue_rows) = sum(a.converted_rows)
        THEN CAST(coalesce(sum(a.revenue_reporting), 0) AS DECIMAL(18, 2)) END AS DOUBLE)
        AS revenue_reporting,
    CAST(CASE WHEN coalesce(sum(a.unconverted), 0) = 0
        THEN CAST(coalesce(sum(a.mrr_reporting), 0) AS DECIMAL(18, 2)) END AS DOUBLE)
        AS mrr_reporting
FROM touched AS a
GROUP BY a.model, a.start_day, a.idsite, a.channel, a.campaign, a.country, a.platform,
    a.currency
