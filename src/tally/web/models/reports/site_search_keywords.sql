-- Actions.getSiteSearchKeywords (web/reporting/site_search.py): searches by keyword as
-- typed, with the visits they were in and the time to the next page view or search
-- (steps.sql). Filled in by report_sql: join and where (the actions in scope).
SELECT
    a.search_keyword,
    count(DISTINCT a.idvisit),
    count(*),
    coalesce(sum(a.time_spent), 0)
FROM web.actions AS a {join}
WHERE {where} AND a.kind = 'search' AND a.search_keyword IS NOT NULL
GROUP BY 1
ORDER BY 2 DESC, 3 DESC, 1
