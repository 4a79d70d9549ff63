-- The rows of a keyed model's keys that its @settled condition leaves (pipeline/build.py
-- rebuild_keys): those the keys' changes may move, stored or fresh; a key whose earliest
-- moving day is not known (_since NULL) leaves them all. Filled in by pipeline_sql: rows
-- (a SELECT of the model's rows), since (the temporary table of the keys with _since),
-- on (a row r's key equal to its row s in since) and settled (the condition over r and s).
SELECT r.*
FROM (
{rows}
) AS r
JOIN {since} AS s ON {on}
WHERE ({settled}) IS NOT TRUE
