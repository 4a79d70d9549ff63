-- the newest 30 runs of the ELT dashboard's window ({where}: from a day on, of one source
-- or all): (run, started, ended, steps, failed, abandoned, running, rows)
SELECT
    run_id,
    min(started_at),
    max(ended_at),
    count(*),
    sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END),
    sum(CASE WHEN status = 'abandoned' THEN 1 ELSE 0 END),
    sum(CASE WHEN status = 'running' THEN 1 ELSE 0 END),
    sum(coalesce(rows_out, 0))
FROM tally_meta.runs
WHERE {where}
GROUP BY run_id
ORDER BY 2 DESC
LIMIT 30
