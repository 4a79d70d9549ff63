-- A keyed read of a table whose model declares an @lookup (pipeline/build.py keyed_rows):
-- the rows read by their row ids, found by the hash of the key, kept (MATERIALIZED: the
-- planner would otherwise test the condition on every row of the table), then the
-- condition itself picks among them (a hash two keys share never picks a wrong row).
-- Filled in by pipeline_fragment: columns, table, read (the row ids' condition) and
-- condition (the keyed condition itself, over the columns read).
WITH looked_up AS MATERIALIZED (SELECT {columns} FROM {table} WHERE {read})
SELECT * FROM looked_up WHERE {condition}
