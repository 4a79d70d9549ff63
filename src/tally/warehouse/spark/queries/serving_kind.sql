-- 'TABLE' or 'VIEW' for what the serving file holds under a name (no row: nothing)
-- (warehouse/spark/backend.py _serving_kind). Parameters: schema, name, schema, name.
SELECT 'TABLE' FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?
UNION ALL
SELECT 'VIEW' FROM duckdb_views() WHERE schema_name = ? AND view_name = ?
