-- The ELT dashboard's (day, source, rows loaded, rows quarantined, duplicates) of load
-- steps (runs.rows_per_day). Filled in: day, where.
SELECT
    {day},
    source,
    sum(coalesce(rows_out, 0)),
    sum(coalesce(rows_quarantined, 0)),
    sum(coalesce(rows_duplicate, 0))
FROM tally_meta.runs
WHERE {where} AND job = 'load'
GROUP BY 1, 2
ORDER BY 1, 2
