-- The scope's visits, then per goal (idgoal, conversions, converted visits, revenue)
-- (web/reporting/goals.py); one row of the visits and nulls when no visit converted.
-- Filled in by report_sql: visits (the scoped visits).
WITH v AS ({visits}),
per_goal AS (
    SELECT
        c.idgoal,
        count(*) AS conversions,
        count(DISTINCT c.idvisit) AS converted,
        coalesce(sum(c.revenue), 0) AS revenue
    FROM web.conversions AS c
    JOIN v ON v.idvisit = c.idvisit
    GROUP BY c.idgoal
)
SELECT (SELECT count(*) FROM v), p.idgoal, p.conversions, p.converted, p.revenue
FROM (SELECT 1 AS one) AS o
LEFT JOIN per_goal AS p ON TRUE
