-- The keys of a keyed model that declares @settled, each with the earliest day its inputs'
-- changed rows give by the model's @since lines (pipeline/incremental.py _settled_since):
-- NULL when a row gives none, so that all the rows of that key are compared. Filled in by
-- pipeline_sql: keys (the temporary table of the keys), changed (the changed rows' keys
-- and days, _day), columns (the key's) and on (a key k equal to its days' group d).
SELECT k.*, d._since
FROM {keys} AS k
LEFT JOIN (
    SELECT {columns},
        CASE WHEN count(_day) < count(*) THEN NULL ELSE min(_day) END AS _since
    FROM ({changed}) AS days
    GROUP BY {columns}
) AS d ON {on}
