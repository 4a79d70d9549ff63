-- Subscriber weekly: ISO weeks (Monday to Sunday) of business days.
-- Flows (new subscribers, reactivations, free trials, renewals, trial conversions, trials
-- ended, plan changes, churn, refunds, partial refunds) are the sums of the daily flows in the week.
-- Stocks: active_end is the active count on the week's last day (the newest loaded day
-- while the week is still running); active_average is the mean of the daily counts over
-- the week's days loaded so far; active_opening is the count at the end of the day before
-- the week (or before the first loaded day). churn_rate = churn / active_opening;
-- trial_conversion_rate = trial_conversions / trials_ended.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"):
-- @range week period_start
WITH bounds AS (
    SELECT min(day) AS data_start, max(day) AS horizon FROM marts.subscriber_daily
),
dated AS (
    SELECT d.*,
        CAST(date_trunc('week', d.day) AS DATE) AS period_start,
        greatest(CAST(date_trunc('week', d.day) AS DATE), b.data_start) AS first_day,
        least(CAST(date_trunc('week', d.day) AS DATE) + 6, b.horizon) AS last_day
    FROM marts.subscriber_daily AS d
    CROSS JOIN bounds AS b
),
summed AS (
    SELECT period_start, country, platform, plan_code, channel, channel_sector, payment_status,
        CAST(coalesce(sum(CASE WHEN day = last_day THEN active END), 0) AS BIGINT) AS active_end,
        CAST(sum(active) AS DOUBLE) / (date_diff('day', min(first_day), min(last_day)) + 1) AS active_average,
        CAST(coalesce(sum(CASE WHEN day = first_day THEN active_opening END), 0) AS BIGINT)
            AS active_opening,
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
    FROM dated
    GROUP BY period_start, country, platform, plan_code, channel, channel_sector, payment_status
)
SELECT *,
    CASE WHEN active_opening > 0 THEN CAST(churn AS DOUBLE) / active_opening END AS churn_rate,
    CASE WHEN trials_ended > 0 THEN CAST(trial_conversions AS DOUBLE) / trials_ended END
        AS trial_conversion_rate
FROM summed
