-- A condition on _line: the lines of one file in a day's partition inserted as refused
-- (no _loaded_at) (pipeline/load.py _refused_lines, embedded in the delimited reader's
-- query). Filled in by pipeline_sql: table (the dataset's staging table), day (a DATE
-- literal) and file (the file's key, a string literal).
_line IN (
    SELECT _line
    FROM {table}
    WHERE _partition_date = {day} AND _file = {file} AND _loaded_at IS NULL
)
