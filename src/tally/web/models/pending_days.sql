-- The site-days holding hits that no sessionize run has placed yet (hits not in web.actions).
-- A visit never crosses the site's midnight, so a site-day is a closed unit: recomputing
-- only these days gives the same visits as recomputing everything.
SELECT DISTINCT
    h.idsite,
    CAST((h.hit_time AT TIME ZONE 'UTC') AT TIME ZONE s.timezone AS DATE) AS local_date,
    s.timezone
FROM web.hits AS h
JOIN web.sites AS s ON s.idsite = h.idsite
LEFT JOIN web.actions AS a ON a.hit_id = h.hit_id
WHERE a.hit_id IS NULL
ORDER BY 1, 2
