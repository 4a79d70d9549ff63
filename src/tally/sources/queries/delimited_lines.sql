-- A local (optionally gzip'd) delimited file's lines, numbered from 1 (the header), read
-- by DuckDB (sources/delimited_sql.py). One VARCHAR column split on NUL (which a text
-- file does not hold: DuckDB refuses the file if it does), so every physical line is one
-- row, blank lines included. Filled in by sql_file: file (its path, as a string literal)
-- and compression (gzip or none, as a string literal).
SELECT ordinality AS _line, coalesce(column0, '') AS _text
FROM read_csv(
    {file},
    columns = {'column0': 'VARCHAR'},
    delim = chr(0),
    quote = '',
    escape = '',
    comment = '',
    header = false,
    auto_detect = false,
    compression = {compression}
) WITH ORDINALITY
