-- A snapshot input's change (pipeline/incremental.py _loaded_change): the rows of the
-- partitions after the last build that its newest built partition did not have, compared on
-- every column but the load's own. Each row keeps its partition day, so a model can prefer
-- the latest snapshot's row: the newest built partition's rows are taken away from every
-- new day's. Filled in by pipeline_sql: table, listed (the compared columns), new (the
-- condition on the new partitions) and newest_built (the newest built partition's).
SELECT {listed}, _partition_date, false AS _old FROM {table} WHERE {new}
EXCEPT
SELECT {listed}, days.day, false
FROM {table}
CROSS JOIN (SELECT DISTINCT _partition_date AS day FROM {table} WHERE {new}) AS days
WHERE {newest_built}
