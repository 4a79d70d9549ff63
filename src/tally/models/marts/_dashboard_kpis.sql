-- The subscription dashboard's KPI series (server/ui/subscriptions.py): per period start,
-- each KPI type's sum over the filters, revenue one line per currency. Not a model (the
-- leading underscore): read by warehouse.sqlfiles.sql_file with the fragment where (the
-- filters' WHERE over marts.report_fact). Parameters: the filters' own, first and last
-- period, then the five KPI types besides revenue.
SELECT
    start_date,
    CASE
        WHEN type = 'Revenue' THEN 'Revenue ' || coalesce(meta_5, '(no currency)')
        ELSE type
    END,
    sum(value)
FROM marts.report_fact
WHERE {where}
    AND start_date >= ? AND start_date <= ?
    AND type IN (?, ?, ?, ?, ?, 'Revenue')
GROUP BY 1, 2
