-- (job, source, dataset, status, steps) over the whole ledger (runs.step_counts)
SELECT job, source, dataset, status, count(*)
FROM tally_meta.runs
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4
