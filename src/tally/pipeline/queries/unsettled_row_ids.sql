-- The row ids of a keyed model's stored rows that its @settled condition leaves, where the
-- warehouse has row ids (pipeline/build.py rebuild_keys): read from the key's and the
-- condition's columns alone, as few_rows does. Filled in by pipeline_fragment: table (the
-- model's), since, on and settled (as in unsettled_rows.sql).
SELECT r.rowid
FROM {table} AS r
JOIN {since} AS s ON {on}
WHERE ({settled}) IS NOT TRUE
