-- (source, dataset, status, partition, error) of each dataset's newest finished load
-- (runs.latest_finished_loads)
SELECT source, dataset, status, partition_date, error
FROM tally_meta.runs
WHERE job = 'load' AND status <> 'running'
QUALIFY row_number() OVER (PARTITION BY source, dataset ORDER BY started_at DESC) = 1
