-- (schema.table, estimated rows) of the ordinary tables among those named, from the
-- catalog (warehouse/postgres/backend.py _analyze_changed); reltuples is -1 for a table
-- never analyzed. Run on the connection as it is, in psycopg parameter style: the one
-- parameter is the list of names. No percent sign may appear elsewhere in this file.
SELECT n.nspname || '.' || c.relname, c.reltuples
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname || '.' || c.relname = ANY(%s) AND c.relkind = 'r'
