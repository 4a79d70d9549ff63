-- The subscription dashboard's attribution panel (server/ui/subscription_analytics.py):
-- the range's new subscriptions by the channel and campaign of their last touch, with
-- trials, paid, trial conversions and revenue in the reporting currency (empty when a row
-- lacks its rate). Not a model (the leading underscore): read by warehouse.sqlfiles.sql_file
-- with the fragment dims (the AND of the country and platform filters, or nothing).
-- Parameters: first and last day, then the filters' own.
SELECT
    channel,
    coalesce(campaign, ''),
    sum(subscriptions),
    sum(trials),
    sum(paid),
    sum(trial_conversions),
    CASE WHEN count(*) = count(revenue_reporting) THEN sum(revenue_reporting) END
FROM marts.attribution_channel
WHERE model = 'Last touch' AND start_day >= ? AND start_day <= ?{dims}
GROUP BY 1, 2
ORDER BY 3 DESC, 1, 2
