-- A condition on a table's rows where the warehouse has row ids (DuckDB): the rows a
-- narrow condition picks, found in two steps, the row ids from the condition's few columns
-- alone, then those rows whole (a few keys' rows sit in every row group, and a plain
-- semi-join decompresses every column of every row). Filled in by pipeline_fragment:
-- row_ids, one SELECT of the table's row ids a condition picks, or several UNION ALL-ed
-- (one per alternative of a condition OR-ing keys: pipeline/build.py alternatives).
rowid IN ({row_ids})
