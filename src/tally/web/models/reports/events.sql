-- Events by one of their columns (column: event_category, event_action or
-- event_name): Events.getCategory / getAction / getName (web/reporting/methods.py).
-- join, where: the actions in scope.
SELECT
    a.{column},
    count(DISTINCT a.idvisit),
    count(*),
    count(a.event_value),
    coalesce(sum(a.event_value), 0),
    min(a.event_value),
    max(a.event_value)
FROM web.actions AS a
{join}
WHERE {where} AND a.kind = 'event'
GROUP BY 1
ORDER BY 3 DESC, 1
