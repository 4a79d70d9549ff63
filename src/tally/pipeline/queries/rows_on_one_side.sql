-- The rows on one side only of a model's stored and fresh rows, _old true for those that
-- went (pipeline/build.py replace_changed): what the two EXCEPTs would give, in one
-- grouping (half the work of two set differences). Filled in by pipeline_sql:
-- columns (the model's), stored and fresh (the two temporary tables).
SELECT {columns}, min(_side) = 1 AS _old
FROM (
    SELECT {columns}, 1 AS _side FROM {stored}
    UNION ALL
    SELECT {columns}, 0 AS _side FROM {fresh}
) AS both_sides
GROUP BY {columns}
HAVING min(_side) = max(_side)
