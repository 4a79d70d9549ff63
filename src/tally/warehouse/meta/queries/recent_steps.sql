-- The newest steps (parameter: how many), newest first (runs.recent_steps)
SELECT run_id, job, source, dataset, partition_date, started_at, ended_at, status,
    rows_in, rows_out, rows_quarantined, rows_duplicate, bytes, error, note
FROM tally_meta.runs
ORDER BY started_at DESC, step_id
LIMIT ?
