-- The stores workbook (reports/stores.py): tally's Android new subscribers and churn per
-- period start, beside what Google Play says. Parameters: country, resolution, first and
-- last period start.
SELECT start_date, type, sum(value)
FROM marts.report_fact
WHERE country = ? AND resolution_type = ? AND platform = 'Android IAP'
    AND type IN ('New subscriber', 'Churn')
    AND start_date >= ? AND start_date <= ?
GROUP BY 1, 2
