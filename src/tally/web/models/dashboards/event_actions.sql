-- The web dashboard's "Event actions and names" panel (server/ui/web_behaviour.py events):
-- the 100 commonest (category, action, name) of the scoped visits' events. Filled in by
-- dashboard_sql: visits (the scoped visits).
SELECT
    a.event_category || ' / ' || coalesce(a.event_action, '') || ' / '
    || coalesce(a.event_name, ''),
    count(*)
FROM ({visits}) AS v
JOIN web.actions AS a ON a.idvisit = v.idvisit
WHERE a.kind = 'event'
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 100
