-- The rows of a day's partition whose event key came before (pipeline/load.py duplicates):
-- in an earlier partition, or earlier in the day's files. Filled in by pipeline_sql: table (the
-- dataset's staging table), key (its event key's columns) and order (partition, file and,
-- where the table has it, line). Parameters: the day three times.
SELECT count(*)
FROM (
    SELECT
        _partition_date,
        row_number() OVER (PARTITION BY {key} ORDER BY {order}) AS copy
    FROM {table}
    WHERE ({key}) IN (SELECT {key} FROM {table} WHERE _partition_date = ?)
        AND _partition_date <= ?
) AS copies
WHERE _partition_date = ? AND copy > 1
