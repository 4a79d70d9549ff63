-- An input's rows as they were before the daily build changed them (pipeline/build.py
-- rebuild_sums), for an input whose rows a unique key names: those read now but for the
-- keys of those that came (a row that changed came under its key), with those that went
-- (its change as replace_changed leaves it, _old true for those that went), each taken
-- where the input's declared condition picks it. Filled in by pipeline_sql: columns (the
-- input's, the key's among them), rows (the temporary table of its rows read now), delta
-- (its change), condition (the declared one, or true), key (the key's columns, in
-- parentheses) and given (the same, without).
SELECT {columns}
FROM {rows}
WHERE NOT {key} IN (SELECT {given} FROM {delta} WHERE NOT _old AND ({condition}))
UNION ALL
SELECT {columns} FROM {delta} WHERE _old AND ({condition})
