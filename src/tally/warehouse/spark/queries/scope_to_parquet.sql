-- A table's rows of its scope written to one Parquet file by DuckDB, for the cluster to
-- read (warehouse/spark/backend.py _hand_over). Filled in by sql_file: table, condition
-- (the scope, over t) and file (its path, a string literal).
COPY (SELECT * FROM {table} AS t WHERE {condition}) TO {file} (FORMAT parquet)
