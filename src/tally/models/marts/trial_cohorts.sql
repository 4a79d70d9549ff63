-- Trial cohorts: trial-to-paid conversion by the month (cohort_resolution 'monthly') or ISO
-- week ('weekly') the trial started, per country, platform, plan and billing channel.
--   trials      trial periods started in the cohort (from the first loaded day)
--   ended       of those, trials whose period ended on or before the newest loaded day
--   converted   trials continued by a paid period without a gap (subscriber_daily's Trial
--               conversion, counted here by the trial's start, not by the day paid)
-- Conversion = converted / ended (a trial still running is neither). The trials and the
-- paid periods after them come from trial_periods (subscription_periods' rows of both kinds).
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): rebuilt whole (a
-- trial ending on the newest day moves the cohort of its start, days or weeks before: a
-- pass over the trials alone), in the daily build's one transaction with the ranged models
-- (not apart, which wrote the tables from settings again and reopened the warehouse for
-- each model); a few thousand rows, replaced whole when any differs:
-- @range all
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
)
SELECT
    cohort_resolution, cohort_start, country, platform, plan_code, channel,
    CAST(count(*) AS BIGINT) AS trials,
    CAST(sum(CASE WHEN period_end <= b.horizon THEN 1 ELSE 0 END) AS BIGINT) AS ended,
    CAST(sum(CASE WHEN converted THEN 1 ELSE 0 END) AS BIGINT) AS converted
FROM resolved
CROSS JOIN bounds AS b
GROUP BY cohort_resolution, cohort_start, country, platform, plan_code, channel
