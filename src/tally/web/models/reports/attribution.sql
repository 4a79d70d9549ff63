-- SubscriptionAttribution (web/reporting/attribution.py): subscriptions, trials, paid,
-- trial conversions, revenue and MRR (in the reporting currency, empty when a row lacks
-- its rate) and that currency, by one dimension of the attribution mart. Filled in by
-- report_sql: dimension, mart, where. Parameters: model, idsite, first and last day.
SELECT {dimension}, sum(subscriptions), sum(trials), sum(paid), sum(trial_conversions),
    CASE WHEN count(*) = count(revenue_reporting) THEN sum(revenue_reporting) END,
    CASE WHEN count(*) = count(mrr_reporting) THEN sum(mrr_reporting) END,
    (SELECT max(reporting_currency) FROM marts.dim_exchange_rate)
FROM {mart}
WHERE model = ? AND idsite = ? AND start_day >= ? AND start_day <= ? AND {where}
GROUP BY 1
ORDER BY 2 DESC, 1
