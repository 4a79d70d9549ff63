-- VisitorInterest.getNumberOfVisitsByDaysSinceLast: (whole days since the visitor's
-- previous visit's last hit, visits); NULL days: no previous visit. visits: the
-- scoped visits.
WITH v AS ({visits}),
previous AS (
    SELECT v.idvisit, min(v.started_at) AS started_at, max(p.ended_at) AS last_seen
    FROM v LEFT JOIN web.visits AS p
        ON p.idsite = v.idsite AND p.visitor_key = v.visitor_key
        AND p.local_date <= v.local_date AND p.started_at < v.started_at
    GROUP BY v.idvisit
)
SELECT floor(date_diff('second', last_seen, started_at) / 86400.0), count(*)
FROM previous GROUP BY 1
