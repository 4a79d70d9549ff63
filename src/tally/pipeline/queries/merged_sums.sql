-- A sums model's stored sums with its changed keys' sums now added and those before taken
-- away (pipeline/build.py rebuild_sums), per group; a group whose count comes to 0 holds
-- no row of any key any more. Filled in by pipeline_sql: table (the model's), groups and
-- sums (the columns of its summed CTE), summed (each sum's sum), negated (each sum
-- negated) and count (the sum counting a group's rows).
SELECT {groups}, {summed}
FROM (
    SELECT {groups}, {sums} FROM {table}
    UNION ALL
    SELECT {groups}, {sums} FROM sums_now
    UNION ALL
    SELECT {groups}, {negated} FROM sums_before
) AS parts
GROUP BY {groups}
HAVING sum({count}) <> 0
