-- The 50 commonest (source, dataset, reason, rows, first file, first line)
-- (quarantine.reasons_since). Filled in: where (since a time, of one source or all).
SELECT source, coalesce(dataset, ''), reason, count(*), min(file), min(line)
FROM tally_meta.quarantine
WHERE {where}
GROUP BY 1, 2, 3
ORDER BY 4 DESC, 1, 2
LIMIT 50
