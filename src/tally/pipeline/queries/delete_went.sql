-- A model's rows that went (pipeline/build.py replace_changed): those whose unique key is
-- among the delta's rows marked _old. Filled in by pipeline_sql: table (the model's),
-- unique (its unique key's columns), delta (the temporary table of rows that went or
-- came) and matched (the key's columns equal, table to went).
DELETE FROM {table}
USING (SELECT DISTINCT {unique} FROM {delta} WHERE _old) AS went
WHERE {matched}
