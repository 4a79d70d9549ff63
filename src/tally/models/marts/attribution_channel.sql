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
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): the sums of
-- `summed` per subscription: the daily build adds those of the subscriptions whose
-- attribution, revenue or MRR periods changed, or whose current MRR a new newest day
-- moves (a period starting or ending after the stored build's horizon, by the new one),
-- over their rows as they are now, and takes away those over their rows as they were; a
-- group whose subscriptions come to 0 goes. So every sum is exact: money as decimals (the
-- current MRR too, 6 places per period), and kept in the row (the _ columns) with the
-- counts telling whether a reporting-currency sum is shown. At 1M subscriptions the
-- bench's last day rebuilds ~25,000 subscriptions' sums (busy, one pair of
-- daily_build_profile.py --analytics --serial): 0.44 CPU s, against 0.67 for the whole
-- rebuild it took before (a new newest day moves the revenue and current MRR of every
-- start day: the join of 1M attributions to their revenue and current MRR cost 0.32, the
-- current periods' scan and grouping 0.19). The MRR periods are read from the old horizon
-- on (a period ending by then is current on neither day).
-- @range sums subscription_id summed subscriptions
-- @reads marts.subscription_attribution WHERE subscription_id IN {keys}
-- @reads marts.subscription_revenue WHERE subscription_id IN {keys}
-- @reads marts.subscription_mrr WHERE subscription_id IN {keys} AND period_end > {built}
-- @horizon marts.subscription_mrr WHERE (period_start > {built} AND period_start <= {horizon}) OR (period_end > {built} AND period_end <= {horizon})
WITH current_mrr AS (
    SELECT m.subscription_id, sum(CAST(m.mrr_reporting AS DECIMAL(18, 6))) AS mrr_reporting,
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
),
-- the row's sums, each a sum over its subscriptions (never NULL: a sum of none is 0, as
-- a group's sums taken away and added again come to)
summed AS (
    SELECT a.model, a.start_day, a.idsite, a.channel, a.campaign, a.country, a.platform,
        a.currency,
        CAST(sum(a.subscriptions) AS BIGINT) AS subscriptions,
        CAST(sum(a.trials) AS BIGINT) AS trials,
        CAST(sum(a.paid) AS BIGINT) AS paid,
        CAST(sum(a.trial_conversions) AS BIGINT) AS trial_conversions,
        CAST(coalesce(sum(a.revenue), 0) AS DECIMAL(18, 2)) AS _revenue,
        CAST(sum(a.revenue_rows) AS BIGINT) AS _revenue_rows,
        CAST(sum(a.converted_rows) AS BIGINT) AS _converted_rows,
        CAST(coalesce(sum(a.revenue_reporting), 0) AS DECIMAL(18, 2)) AS _revenue_reporting,
        CAST(coalesce(sum(a.mrr_reporting), 0) AS DECIMAL(18, 6)) AS _mrr_reporting,
        CAST(coalesce(sum(a.unconverted), 0) AS BIGINT) AS _unconverted
    FROM touched AS a
    GROUP BY a.model, a.start_day, a.idsite, a.channel, a.campaign, a.country, a.platform,
        a.currency
)
SELECT
    model, start_day, idsite, channel, campaign, country, platform, currency,
    CAST(subscriptions AS BIGINT) AS subscriptions,
    CAST(trials AS BIGINT) AS trials,
    CAST(paid AS BIGINT) AS paid,
    CAST(trial_conversions AS BIGINT) AS trial_conversions,
    CAST(CAST(_revenue AS DECIMAL(18, 2)) AS DOUBLE) AS revenue,
    CAST(CASE WHEN _revenue_rows = _converted_rows
        THEN CAST(_revenue_reporting AS DECIMAL(18, 2)) END AS DOUBLE) AS revenue_reporting,
    CAST(CASE WHEN _unconverted = 0 THEN CAST(_mrr_reporting AS DECIMAL(18, 2)) END AS DOUBLE)
        AS mrr_reporting,
    CAST(_revenue AS DECIMAL(18, 2)) AS _revenue,
    CAST(_revenue_rows AS BIGINT) AS _revenue_rows,
    CAST(_converted_rows AS BIGINT) AS _converted_rows,
    CAST(_revenue_reporting AS DECIMAL(18, 2)) AS _revenue_reporting,
    CAST(_mrr_reporting AS DECIMAL(18, 6)) AS _mrr_reporting,
    CAST(_unconverted AS BIGINT) AS _unconverted
FROM summed
