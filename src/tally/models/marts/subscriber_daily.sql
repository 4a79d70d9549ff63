-- Subscriber daily: every metric per business day (country's time zone), country, platform,
-- plan, channel, sector and payment status. Flows are counted on the day they happen:
--   new_subscribers    a spell start (no access the day before) by a user with no earlier
--                      period; payment status of the period (Free trial / Paying). With
--                      marts.concurrent_subscription = 'new' (the default) also a
--                      subscription started while another of the user's has access
--   reactivations      a spell start by a user who had a period before: a comeback, or a
--                      recovery from billing retry (access had stopped); with
--                      concurrent_subscription = 'reactivation' also a second concurrent
--                      subscription
--   free_trials        trial periods starting
--   renewals           paid periods renewing a paid (or grace) period without a gap (not a
--                      purchase that replaced the period mid-way: a plan change),
--                      counted on the day they were paid (after a grace period: the day the
--                      store recovered the payment, not the day the period began)
--   trial_conversions  paid periods continuing a trial without a gap (a trial that became
--                      paid), on the day paid, under payment status 'Free trial' (the status
--                      converted from, so that it sits beside trials_ended)
--   trials_ended       trial periods ending (the conversion rate's denominator)
--   plan_changes       paid periods continuing the subscription without a gap on another
--                      plan, on the day paid, under the new plan
--   churn              spell ends: access stops and no period follows the same day (expiry
--                      after auto-renew off, a billing failure, a refund); counted when it
--                      happens, never when auto-renew is turned off; status of the last span
--   refunds            full refunds (refund_scope 'full': the period's whole price), on
--                      the refund's day
--   partial_refunds    partial refunds (less than the price); they keep access unless the
--                      source says it ended (staging/viu_premium_transactions_latest.sql)
-- Stocks come from marts.subscriber_total: active (end of day) and active_opening (end of
-- the day before); rates: churn_rate = churn / active_opening,
-- trial_conversion_rate = trial_conversions / trials_ended.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"):
--   a period's events fall on its start, the day it was paid or its end (counted only up
--   to the horizon): a period still open after the horizon that began before the range
--   has none in it; whether a spell ends on a period's end reads the period starting that
--   day, which starts in the range too; a day's transactions come in its own partition or
--   later (two days' slack for time zones and late files)
-- @range day day
-- @reads marts.subscription_periods WHERE period_end >= {since} AND (period_start >= {since} OR paying_from >= {since} OR period_end <= (SELECT horizon FROM marts.subscription_bounds))
-- @reads staging.viu_premium_transactions_latest WHERE _partition_date >= {since} - 2
-- @reads marts.subscriber_total WHERE day >= {since}
WITH status_of AS (
    SELECT p.*,
        CASE p.kind WHEN 'trial' THEN 'Free trial' WHEN 'grace' THEN 'Grace period'
            ELSE 'Paying' END AS start_status,
        CASE WHEN p.kind = 'trial' THEN 'Free trial'
            WHEN p.kind = 'grace' OR p.paying_from >= p.period_end THEN 'Grace period'
            ELSE 'Paying' END AS end_status,
        -- a start counts as new when the user never had a period before, or (setting
        -- marts.concurrent_subscription = 'new') when another of the user's
        -- subscriptions still has access on that day
        p.user_prev_end IS NULL OR (
            z.concurrent_subscription = 'new' AND p.user_prev_end > p.period_start
        ) AS first_of_user
    FROM marts.subscription_periods AS p
    JOIN marts.dim_country AS z ON z.code = p.country
),
events AS (
    SELECT period_start AS day, country, platform, plan_code, channel, channel_sector,
        start_status AS payment_status,
        CASE WHEN spell_start AND first_of_user THEN 1 ELSE 0 END AS new_subscribers,
        CASE WHEN spell_start AND NOT first_of_user THEN 1 ELSE 0 END AS reactivations,
        CASE WHEN kind = 'trial' THEN 1 ELSE 0 END AS free_trials,
        0 AS renewals, 0 AS trial_conversions, 0 AS trials_ended, 0 AS plan_changes,
        0 AS churn, 0 AS refunds, 0 AS partial_refunds, 0 AS active, 0 AS active_opening
    FROM status_of
    UNION ALL
    -- a renewal continues the period before; a plan change that took effect at once (a
    -- purchase closing the period before, `continues` false) is a plan change only
    SELECT paying_from, country, platform, plan_code, channel, channel_sector,
        'Paying', 0, 0, 0,
        CASE WHEN previous_kind IN ('paid', 'grace') AND coalesce(continues, true)
            THEN 1 ELSE 0 END,
        0, 0,
        CASE WHEN previous_plan_code <> plan_code THEN 1 ELSE 0 END,
        0, 0, 0, 0, 0
    FROM status_of
    WHERE kind = 'paid' AND NOT spell_start AND paying_from < period_end
    UNION ALL
    SELECT paying_from, country, platform, plan_code, channel, channel_sector,
        'Free trial', 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0
    FROM status_of
    WHERE kind = 'paid' AND NOT spell_start AND previous_kind = 'trial'
        AND paying_from < period_end
    UNION ALL
    -- churn where a spell ends: no later period of the subscription starts on the day this
    -- one ends (a period never ends after the next one starts). Worked out here, not
    -- stored with the period, so that a renewal leaves the period it renews as stored
    SELECT s.period_end, s.country, s.platform, s.plan_code, s.channel, s.channel_sector,
        s.end_status, 0, 0, 0, 0, 0,
        CASE WHEN s.kind = 'trial' THEN 1 ELSE 0 END,
        0,
        CASE WHEN n.subscription_id IS NULL THEN 1 ELSE 0 END,
        0, 0, 0, 0
    FROM status_of AS s
    LEFT JOIN (SELECT subscription_id, period_start FROM marts.subscription_periods) AS n
        ON n.subscription_id = s.subscription_id AND n.period_start = s.period_end
        AND n.period_start > s.period_start
    WHERE s.period_end <= (SELECT horizon FROM marts.subscription_bounds)
    UNION ALL
    SELECT CAST(t.transaction_time AT TIME ZONE z.timezone AS DATE), t.country, t.platform,
        t.plan_code, t.channel, t.channel_sector, 'Paying',
        0, 0, 0, 0, 0, 0, 0, 0,
        CASE WHEN t.refund_scope = 'full' THEN 1 ELSE 0 END,
        CASE WHEN t.refund_scope = 'partial' THEN 1 ELSE 0 END, 0, 0
    FROM staging.viu_premium_transactions_latest AS t
    JOIN marts.dim_country AS z ON z.code = t.country
    WHERE t.type = 'refund'
    UNION ALL
    SELECT day, country, platform, plan_code, channel, channel_sector, payment_status,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, active, active_opening
    FROM marts.subscriber_total
),
bounds AS (
    SELECT data_start, horizon FROM marts.subscription_bounds
),
summed AS (
    SELECT day, country, platform, plan_code, channel, channel_sector, payment_status,
        CAST(sum(active) AS BIGINT) AS active,
        CAST(sum(active_opening) AS BIGINT) AS active_opening,
        CAST(sum(new_subscribers) AS BIGINT) AS new_subscribers,
        CAST(sum(reactivations) AS BIGINT) AS reactivations,
        CAST(sum(free_trials) AS BIGINT) AS free_trials,
        CAST(sum(renewals) AS BIGINT) AS renewals,
        CAST(sum(trial_conversions) AS BIGINT) AS trial_conversions,
        CAST(sum(trials_ended) AS BIGINT) AS trials_ended,
        CAST(sum(plan_changes) AS BIGINT) AS plan_changes,
        CAST(sum(churn) AS BIGINT) AS churn,
        CAST(sum(refunds) AS BIGINT) AS refunds,
        CAST(sum(partial_refunds) AS BIGINT) AS partial_refunds
    FROM events
    CROSS JOIN bounds AS b
    WHERE day BETWEEN b.data_start AND b.horizon
    GROUP BY day, country, platform, plan_code, channel, channel_sector, payment_status
)
SELECT *,
    CASE WHEN active_opening > 0 THEN CAST(churn AS DOUBLE) / active_opening END AS churn_rate,
    CASE WHEN trials_ended > 0 THEN CAST(trial_conversions AS DOUBLE) / trials_ended END
        AS trial_conversion_rate
FROM summed
WHERE active <> 0 OR active_opening <> 0 OR new_subscribers <> 0 OR reactivations <> 0
    OR free_trials <> 0 OR renewals <> 0 OR trial_conversions <> 0 OR trials_ended <> 0
    OR plan_changes <> 0 OR churn <> 0 OR refunds <> 0 OR partial_refunds <> 0
