-- (idvisit, the hit's {column}) of every hit of the query's visits carrying it, in each
-- visit's order: custom variables and dimensions (web/reporting/custom.py). Filled in by
-- report_sql: column (a web.hits column), join and where (the actions in scope).
SELECT a.idvisit, h.{column}
FROM web.actions AS a {join}
JOIN web.hits AS h ON h.hit_id = a.hit_id
WHERE {where} AND a.idvisit IS NOT NULL AND h.{column} IS NOT NULL
ORDER BY a.idvisit, a.position
