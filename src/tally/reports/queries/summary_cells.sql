-- The summary sheet (reports/summary.py): every metric type's sums by currency (meta_5),
-- platform, plan (meta_1) and period start, over one resolution's periods. Parameters:
-- country, resolution, first and last period start.
SELECT type, meta_5, platform, meta_1, start_date, sum(value)
FROM marts.report_fact
WHERE country = ? AND resolution_type = ? AND start_date >= ? AND start_date <= ?
GROUP BY type, meta_5, platform, meta_1, start_date
