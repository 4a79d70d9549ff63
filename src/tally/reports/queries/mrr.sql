-- The analytics workbook's MRR sheet (reports/analytics.py): per period start and type,
-- MRR, ARR and the MRR movements in the reporting currency. Parameters: country,
-- resolution, last day.
SELECT start_date, type, sum(value)
FROM marts.subscription_fact
WHERE country = ? AND resolution_type = ? AND start_date <= ?
    AND meta_8 = 'Converted'
    AND (type LIKE '% MRR' OR type IN ('MRR', 'ARR'))
GROUP BY 1, 2
