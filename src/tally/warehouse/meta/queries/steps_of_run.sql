-- Every step of one run (parameter: the run id), in the order they started
-- (runs.steps_of_run)
SELECT job, source, dataset, partition_date, started_at, {duration}, status, rows_in,
    rows_out, rows_quarantined, rows_duplicate, bytes, attempt, error, note
FROM tally_meta.runs
WHERE run_id = ?
ORDER BY started_at, step_id
