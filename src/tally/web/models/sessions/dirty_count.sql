-- The rows of one table in the dirty site-days (web/sessions.py _count). Filled in by
-- sql_file: table (web.visits, web.actions).
SELECT count(*)
FROM {table} AS t
JOIN web.dirty_days AS d ON d.idsite = t.idsite AND d.local_date = t.local_date
