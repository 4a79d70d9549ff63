-- (cohort, age, eligible, retained, MRR at the start, MRR retained) of the cohorts of one
-- resolution started by a day (server/ui/subscription_analytics.py retention_panel).
-- Filled in: dims (" AND ..." of the chosen filters). Parameters: resolution, day, the
-- filters'.
SELECT cohort_start, age, sum(eligible), sum(retained), sum(mrr_start), sum(mrr_retained)
FROM marts.cohort_retention
WHERE cohort_resolution = ? AND cohort_start <= ?{dims}
GROUP BY 1, 2
ORDER BY 1, 2
