-- The first day the rows of a ranged model's delta move downstream (pipeline/build.py
-- moved_days), for every reader and for some readers apart (moved_day, one per reader).
-- Filled in by pipeline_sql: delta (the table of old and new rows, _old telling them
-- apart), days (the declared days as columns _moves_<n> of a row), on (the unique key
-- matched), firsts (the moved_day of each reader).
SELECT {firsts}
FROM (SELECT *, {days} FROM {delta} WHERE _old) AS o
FULL OUTER JOIN (SELECT *, {days} FROM {delta} WHERE NOT _old) AS n ON {on}
