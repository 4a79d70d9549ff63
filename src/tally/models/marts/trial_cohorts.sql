-- Trial cohorts: trial-to-paid conversion by the month (cohort_resolution 'monthly') or ISO
-- week ('weekly') the trial started, per country, platform, plan and billing channel.
--   trials      trial periods started in the cohort (from the first loaded day)
--   ended       of those, trials whose period ended on or before the newest loaded day
--   converted   trials continued by a paid period without a gap (subscriber_daily's Trial
--               conversion, counted here by the trial's start, not by the day paid)
-- Conversion = converted / ended (a trial still running is neither). The trials and the
-- paid periods after them come from trial_periods (subscription_periods' rows of both kinds).
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): the sums of
-- `summed` per subscription (a trial and the paid period after it are one subscription's
-- rows): the daily build adds those of the subscriptions whose trial periods changed, or
-- whose trial ended after the stored build's horizon, by the new one, over their rows as
-- they are now, and takes away those over their rows as they were (a trial ending on the
-- newest day moves the cohort of its start, days or weeks before: rebuilt whole, a pass
-- over every trial, it cost 0.14-0.17 CPU s at 1M subscriptions, busy; ~0.08 so).
-- @range sums subscription_id summed trials
-- @reads marts.trial_periods WHERE subscription_id IN {keys}
-- @horizon marts.trial_periods WHERE kind = 'trial' AND period_end > {built} AND period_end <= {horizon}
WITH bounds AS (
    SELECT data_start, horizon FROM marts.subscription_bounds
),
trials AS (
    SELECT t.subscription_id, t.country, t.platform, t.plan_code, t.channel,
        t.period_start, t.period_end, p.subscription_id IS NOT NULL AS converted
    FROM marts.trial_periods AS t
    CROSS JOIN bounds AS b
    -- one period per subscription and start day: the join adds no rows. A paid period
    -- starting on a trial's end follows it directly (periods never overlap), so only paid
    -- periods after a trial are joined (trial_periods keeps those and the trials)
    LEFT JOIN marts.trial_periods AS p
        ON p.subscription_id = t.subscription_id AND p.kind = 'paid'
        AND p.period_start = t.period_end
    WHERE t.kind = 'trial' AND t.period_start >= b.data_start
),
resolved AS (
    SELECT 'monthly' AS cohort_resolution, CAST(date_trunc('month', period_start) AS DATE)
        AS cohort_start, trials.*
    FROM trials
    UNION ALL
    SELECT 'weekly', CAST(date_trunc('week', period_start) AS DATE), trials.*
    FROM trials
),
summed AS (
    SELECT
        cohort_resolution, cohort_start, country, platform, plan_code, channel,
        CAST(count(*) AS BIGINT) AS trials,
        CAST(sum(CASE WHEN period_end <= b.horizon THEN 1 ELSE 0 END) AS BIGINT) AS ended,
        CAST(sum(CASE WHEN converted THEN 1 ELSE 0 END) AS BIGINT) AS converted
    FROM resolved
    CROSS JOIN bounds AS b
    GROUP BY cohort_resolution, cohort_start, country, platform, plan_code, channel
)
SELECT
    cohort_resolution, cohort_start, country, platform, plan_code, channel,
    CAST(trials AS BIGINT) AS trials, CAST(ended AS BIGINT) AS ended,
    CAST(converted AS BIGINT) AS converted
FROM summed
