-- A model's rows that went (pipeline/build.py replace_changed), where its stored rows were
-- read with their row ids (DuckDB): the stored rows whose unique key is among the delta's
-- rows marked _old, deleted by row id instead of matched by key over the whole table. Filled
-- in by pipeline_sql: table (the model's), row_ids (the stored rows' column of row ids),
-- stored (their temporary table), unique (the unique key's columns), delta (the temporary
-- table of rows that went or came) and matched (the key's columns equal, stored to went).
DELETE FROM {table}
WHERE rowid IN (
    SELECT s.{row_ids}
    FROM {stored} AS s
    JOIN (SELECT DISTINCT {unique} FROM {delta} WHERE _old) AS went ON {matched}
)
