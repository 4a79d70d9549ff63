-- The analytics workbook's Cohorts sheet (reports/analytics.py): per monthly cohort and
-- age, the subscriptions that could pay and did, and their MRR at the start and now.
-- Parameters: country, last day.
SELECT cohort_start, age, sum(eligible), sum(retained), sum(mrr_start), sum(mrr_retained)
FROM marts.cohort_retention
WHERE cohort_resolution = 'monthly' AND country = ? AND cohort_start <= ?
GROUP BY 1, 2
