-- An input's rows as they were before the daily build changed them (pipeline/build.py
-- rebuild_sums): those read now, but for those that came, and with those that went (its
-- change as replace_changed leaves it, _old true for those that went), each taken where
-- the input's declared condition picks it. Filled in by pipeline_sql: columns (the
-- input's), rows (the temporary table of its rows read now), delta (its change) and
-- condition (the declared one, or true).
SELECT {columns}
FROM (
    SELECT {columns} FROM {rows}
    EXCEPT ALL
    SELECT {columns} FROM {delta} WHERE NOT _old AND ({condition})
) AS kept
UNION ALL
SELECT {columns} FROM {delta} WHERE _old AND ({condition})
