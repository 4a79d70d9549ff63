-- (source, dataset or '', status, started_at) of each dataset's newest load step
SELECT r.source, coalesce(r.dataset, ''), r.status, r.started_at
FROM tally_meta.runs AS r
WHERE r.job = 'load' AND r.source IS NOT NULL
    AND r.started_at = (
        SELECT max(l.started_at) FROM tally_meta.runs AS l
        WHERE l.job = 'load' AND l.source = r.source
            AND coalesce(l.dataset, '') = coalesce(r.dataset, '')
    )
