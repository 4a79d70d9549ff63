-- VisitorInterest.getNumberOfVisitsByVisitCount: (nth visit of its visitor, visits)
-- over every held day. visits: the scoped visits.
WITH v AS ({visits}),
numbered AS (
    SELECT v.idvisit, count(*) AS nth
    FROM v JOIN web.visits AS p
        ON p.idsite = v.idsite AND p.visitor_key = v.visitor_key
        AND p.local_date <= v.local_date AND p.started_at <= v.started_at
    GROUP BY v.idvisit
)
SELECT nth, count(*) FROM numbered GROUP BY 1
