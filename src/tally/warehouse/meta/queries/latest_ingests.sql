-- (source, dataset or '', newest partition, newest end) of successful ingest steps
-- (runs.latest_ingests)
SELECT source, coalesce(dataset, ''), max(partition_date), max(ended_at)
FROM tally_meta.runs
WHERE job = 'ingest' AND status = 'ok' AND source IS NOT NULL
GROUP BY 1, 2
