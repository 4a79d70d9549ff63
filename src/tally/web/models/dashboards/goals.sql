-- The web dashboard's Goals panel (server/ui/web_acquisition.py goals): per goal (orders
-- and abandoned carts named), conversions, converted visits, revenue and the scope's
-- visits. Filled in by dashboard_sql: visits (the scoped visits).
WITH scoped AS ({visits})
SELECT
    CASE WHEN c.idgoal = 0 THEN 'Ecommerce orders'
        WHEN c.idgoal = -1 THEN 'Abandoned carts'
        ELSE coalesce(g.name, 'goal ' || CAST(c.idgoal AS VARCHAR)) END,
    count(*),
    count(DISTINCT c.idvisit),
    coalesce(sum(c.revenue), 0),
    (SELECT count(*) FROM scoped)
FROM web.conversions AS c
JOIN scoped AS v ON v.idvisit = c.idvisit
LEFT JOIN web.goals AS g ON g.idsite = c.idsite AND g.idgoal = c.idgoal
GROUP BY 1
ORDER BY 2 DESC, 1
