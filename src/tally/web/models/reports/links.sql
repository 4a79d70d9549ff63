-- (link URL, idvisit, clicks) of outlinks or downloads (web/reporting/methods.py _links).
-- Filled in by report_sql: join and where (the actions in scope). Parameters: the scope's,
-- then the kind ('outlink' or 'download').
SELECT a.link_url, a.idvisit, count(*)
FROM web.actions AS a {join}
WHERE {where} AND a.kind = ? AND a.link_url IS NOT NULL
GROUP BY 1, 2
