-- Per file of a day's partition read in place: (file, lines inserted, lines refused: those
-- left without _loaded_at) (pipeline/load.py _refused). Filled in by pipeline_sql: table
-- (the dataset's staging table). Parameters: the day.
SELECT _file, count(*), count(*) FILTER (WHERE _loaded_at IS NULL)
FROM {table}
WHERE _partition_date = ?
GROUP BY _file
