-- (partition, status, steps) of one job and source from a day on (runs.attempts).
-- Parameters: job, source, first partition.
SELECT partition_date, status, count(*)
FROM tally_meta.runs
WHERE job = ? AND source = ? AND partition_date >= ?
GROUP BY partition_date, status
