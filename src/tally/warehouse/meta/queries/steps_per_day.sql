-- The ELT dashboard's (day, status, steps) (runs.steps_per_day). Filled in: day (a step's
-- day), where (from a day on, of one source or all).
SELECT {day} AS day, status, count(*)
FROM tally_meta.runs
WHERE {where}
GROUP BY 1, 2
ORDER BY 1, 2
