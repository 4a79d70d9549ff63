-- The numbered lines of a delimited file split, checked and typed in SQL, with the same
-- result as the pyarrow reader (sources/delimited_sql.py). _bad is NULL on a good row, -1
-- on a line that is neither a row nor an error (blank, or only delimiters), 0 on a line of
-- the wrong width, else the 1-based index of the first column refused. Trimming with a
-- character list is slow in DuckDB: lines whose whole text has the right shape (_fast)
-- have nothing to trim, and only the others (rare) are trimmed value by value.
--
-- Filled in by sql_file: lines (the numbered lines), delimiter, shape (the pattern of a
-- line needing no trim), space (the whitespace trimmed) and only_delimiters (a line of
-- delimiters alone), all string literals; width (fields in the header), blank and
-- wrong_width (the two codes above); values, raw, typed, checks and outputs (per column,
-- composed in Python); part (left as it is, for split_work's line ranges).
WITH fields AS (
    SELECT
        _line,
        _text,
        string_split(_text, {delimiter}) AS _f,
        regexp_matches(_text, {shape}) AS _fast
    FROM {lines}
    WHERE _line > 1 AND {part}
),
trimmed AS (SELECT _line, _text, _fast, len(_f) AS _width, {values} FROM fields),
converted AS (SELECT _line, _text, _width, {raw}, {typed} FROM trimmed)
SELECT
    _line,
    CASE
        WHEN _width <> {width} THEN
            CASE WHEN trim(_text, {space}) = '' THEN {blank} ELSE {wrong_width} END
        WHEN _text = {only_delimiters} THEN {blank}
        {checks}
    END AS _bad,
    {outputs}
FROM converted
