-- The refused and blank lines among those a condition picks, with their text, in line
-- order (sources/delimited_sql.py Lines.refused). Filled in by sql_file: staged (the
-- delimited_staging query over the lines, its part filled with the condition) and lines
-- (the numbered lines' table).
SELECT refused._line, refused._bad, lines._text
FROM ({staged}) AS refused
JOIN {lines} AS lines USING (_line)
WHERE refused._bad IS NOT NULL
ORDER BY refused._line
