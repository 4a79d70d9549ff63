-- The analytics workbook's Attribution sheet (reports/analytics.py): new subscriptions of
-- the period by model, channel and campaign, with trials, paid, trial conversions and
-- revenue in the reporting currency (empty when a row lacks its rate). Parameters:
-- country, first and last day.
SELECT
    model,
    channel,
    coalesce(campaign, ''),
    sum(subscriptions),
    sum(trials),
    sum(paid),
    sum(trial_conversions),
    CASE WHEN count(*) = count(revenue_reporting) THEN sum(revenue_reporting) END
FROM marts.attribution_channel
WHERE country = ? AND start_day >= ? AND start_day <= ?
GROUP BY 1, 2, 3
ORDER BY 1 DESC, 4 DESC, 2, 3
