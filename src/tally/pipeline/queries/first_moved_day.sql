-- The first day the rows of a ranged model's delta move downstream (pipeline/build.py
-- moved_since): a row that came moves on its new days, a row that went on its old days,
-- a row that changed (the same unique key on both sides) on the days of the declarations
-- whose columns differ. Filled in by pipeline_sql: delta (the table of old and new rows,
-- _old telling them apart), days (the declared days as columns _moves_<n> of a row), on
-- (the unique key matched), new and old (those columns on each side), changed (per
-- declaration, the least of its days when its columns differ).
SELECT
    min(
        CASE
            WHEN o._old IS NULL THEN least({new})
            WHEN n._old IS NULL THEN least({old})
            ELSE least({changed})
        END
    )
FROM (SELECT *, {days} FROM {delta} WHERE _old) AS o
FULL OUTER JOIN (SELECT *, {days} FROM {delta} WHERE NOT _old) AS n ON {on}
