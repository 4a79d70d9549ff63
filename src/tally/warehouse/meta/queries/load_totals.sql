-- (source, dataset or '', rows loaded by good loads, failed loads) per dataset
SELECT
    source,
    coalesce(dataset, ''),
    sum(CASE WHEN status = 'ok' THEN rows_out ELSE 0 END),
    sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END)
FROM tally_meta.runs
WHERE job = 'load' AND source IS NOT NULL
GROUP BY 1, 2
