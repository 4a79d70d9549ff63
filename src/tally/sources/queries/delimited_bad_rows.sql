-- The bad rows of a staged table (not the blank lines, _bad -1), with their text, in line
-- order (sources/delimited_sql.py _bad_rows). Filled in by sql_file: staged (the staged
-- table) and lines (the numbered lines' table).
SELECT bad._line, bad._bad, lines._text
FROM {staged} AS bad
JOIN {lines} AS lines USING (_line)
WHERE bad._bad >= 0
ORDER BY bad._line
