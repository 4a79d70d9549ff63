-- A condition on a table's rows where the warehouse has row ids (DuckDB): the rows a
-- narrow condition picks, found in two steps, the row ids from the condition's few columns
-- alone, then those rows whole (a few keys' rows sit in every row group, and a plain
-- semi-join decompresses every column of every row). Filled in by pipeline_fragment:
-- table, condition (over the table's columns).
rowid IN (SELECT rowid FROM {table} WHERE {condition})
