-- (cohort, acquisition channel, age, eligible, retained) of monthly cohorts of one country
-- started by a day (reports/analytics.py cohort_channel_sheet). Parameters: country, day.
SELECT cohort_start, acquisition_channel, age, sum(eligible), sum(retained)
FROM marts.cohort_retention
WHERE cohort_resolution = 'monthly' AND country = ? AND cohort_start <= ?
GROUP BY 1, 2, 3
