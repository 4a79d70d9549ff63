-- Every site-day with hits: a full recompute (after a site's time zone or goals change).
SELECT DISTINCT
    h.idsite,
    CAST((h.hit_time AT TIME ZONE 'UTC') AT TIME ZONE s.timezone AS DATE) AS local_date,
    s.timezone
FROM web.hits AS h
JOIN web.sites AS s ON s.idsite = h.idsite
ORDER BY 1, 2
