-- Active, new and churn of the newest period by every breakdown column at once
-- (server/ui/subscriptions.py breakdown_panels). Filled in: columns (the breakdown
-- columns), where (the filters). Parameters: the filters', then the period start.
SELECT {columns}, type, sum(value)
FROM marts.report_fact
WHERE {where} AND start_date = ?
    AND type IN ('Active subscriber', 'New subscriber', 'Churn')
GROUP BY {columns}, type
