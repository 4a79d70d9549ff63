-- Per goal: (idgoal, conversions, converted visits, revenue, the scope's visits)
-- (web/reporting/goals.py). Filled in by report_sql: visits (the scoped visits).
WITH v AS ({visits})
SELECT
    c.idgoal,
    count(*),
    count(DISTINCT c.idvisit),
    coalesce(sum(c.revenue), 0),
    (SELECT count(*) FROM v)
FROM web.conversions AS c
JOIN v ON v.idvisit = c.idvisit
GROUP BY c.idgoal
