-- Hits per site and minute of a hits table between two times (stream/inputs_tally.py, the
-- tally.hits input). Filled in: site, time (checked plain identifiers), table.
-- Parameters: from, until.
SELECT CAST({site} AS VARCHAR), date_trunc('minute', {time}), count(*)
FROM {table}
WHERE {time} >= ? AND {time} < ?
GROUP BY 1, 2
