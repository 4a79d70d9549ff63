-- Live.getLastVisitsDetails (web/reporting/live.py): each chosen visit's actions in order.
-- Filled in by report_sql: chosen (the log's visits).
WITH chosen AS ({chosen})
SELECT
    a.idvisit, a.hit_id, a.kind, a.url, a.action_name, a.link_url, a.event_category,
    a.event_action, a.event_name, a.event_value, a.search_keyword, a.hit_time, a.position,
    a.idgoal
FROM web.actions AS a
JOIN chosen AS v ON v.idvisit = a.idvisit AND a.idsite = v.idsite AND a.local_date = v.local_date
ORDER BY a.idvisit, a.position
