-- The ELT dashboard's (day, job, finished steps, mean seconds, max seconds)
-- (runs.durations_per_day). Filled in: day, duration (a step's seconds), where.
SELECT {day}, job, count(*), avg({duration}), max({duration})
FROM tally_meta.runs
WHERE {where} AND ended_at IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2
