-- (cohort, trials, ended, converted) of monthly trial cohorts of one country started by a
-- day (reports/analytics.py trial_sheet). Parameters: country, day.
SELECT cohort_start, sum(trials), sum(ended), sum(converted)
FROM marts.trial_cohorts
WHERE cohort_resolution = 'monthly' AND country = ? AND cohort_start <= ?
GROUP BY 1
ORDER BY 1
