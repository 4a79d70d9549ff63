-- (period start, country, revenue converted to the reporting currency) of the
-- subscription fact (server/ui/subscription_analytics.py converted_revenue_panel).
-- Filled in: where (resolution, range and filters).
SELECT start_date, country, sum(value)
FROM marts.subscription_fact
WHERE {where} AND type = 'Revenue' AND meta_8 = 'Converted'
GROUP BY 1, 2
ORDER BY 1, 2
