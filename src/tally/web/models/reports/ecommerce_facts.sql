-- The ecommerce facts (JSON) of the orders (idgoal 0) or carts (-1) of the scoped visits
-- (web/reporting/ecommerce.py conversions_of). Filled in by report_sql: visits (the scoped
-- visits). Parameters: the visits' own, then the idgoal.
SELECT h.ecommerce
FROM web.conversions AS c
JOIN ({visits}) AS v ON v.idvisit = c.idvisit
JOIN web.hits AS h ON h.hit_id = c.hit_id
WHERE c.idgoal = ? AND h.ecommerce IS NOT NULL
