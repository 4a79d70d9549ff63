-- A @stores model's input, read in its place (pipeline/build.py rebuild_keys): the
-- model's stored rows of the keys, and the input's new rows of the keys (rows marked _old
-- left out). Filled in by pipeline_fragment: columns (the input's columns the model also
-- has) and new_rows (the temporary table of the input's changed rows).
SELECT {columns} FROM stored_rows
UNION ALL
SELECT {columns} FROM {new_rows} WHERE NOT _old
