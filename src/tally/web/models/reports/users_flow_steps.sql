-- UsersFlow.getUsersFlow (web/reporting/usersflow.py _counted): each distinct (step, page
-- id, next page id) of the page views in scope with how many visits made it; next page 0:
-- the visit left. Sessionize stored each page view's number and ids (web.pages), so this is
-- one aggregate on integers. join, where: the actions in scope.
SELECT
    a.pageview_number AS step,
    a.page_id AS page,
    coalesce(a.next_page_id, 0) AS following,
    count(*) AS visits
FROM web.actions AS a
{join}
WHERE {where} AND a.page_id IS NOT NULL
GROUP BY 1, 2, 3
