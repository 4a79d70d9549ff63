-- UsersFlow.getUsersFlow with dataSource=page_title (web/reporting/usersflow.py _titled):
-- each distinct (step, page title, next page's title) of the page views in scope with how
-- many visits made it; a null next title: the visit left. title, next_title: Matomo's label
-- of a page title for a.action_name and n.action_name; join, where: the actions in scope.
SELECT
    a.pageview_number AS step,
    {title} AS page,
    CASE WHEN n.page_id IS NULL THEN NULL ELSE {next_title} END AS following,
    count(*) AS visits
FROM web.actions AS a
{join}
LEFT JOIN web.actions AS n
    ON n.idsite = a.idsite
    AND n.local_date = a.local_date
    AND n.visit_key = a.visit_key
    AND n.pageview_number = a.pageview_number + 1
    AND n.page_id IS NOT NULL
WHERE {where} AND a.page_id IS NOT NULL
GROUP BY 1, 2, 3
