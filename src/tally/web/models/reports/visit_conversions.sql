-- Live.getLastVisitsDetails (web/reporting/live.py): the chosen visits' conversions, with
-- their goal's name, in the order they happened. Filled in by report_sql: chosen (the
-- log's visits).
WITH chosen AS ({chosen})
SELECT c.hit_id, c.idgoal, g.name, c.converted_at, c.revenue
FROM web.conversions AS c
JOIN chosen AS v ON v.idvisit = c.idvisit
LEFT JOIN web.goals AS g ON g.idsite = c.idsite AND g.idgoal = c.idgoal
ORDER BY c.converted_at, c.idgoal
