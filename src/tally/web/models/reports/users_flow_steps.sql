-- Each distinct (step, page id, next page id: 0 when the visit left) of the page views in
-- scope, with how many visits made it: UsersFlow.getUsersFlow's counts where the packed
-- tally in numpy is not taken (web/reporting/usersflow.py _counted). Filled in by
-- report_sql: scope (FROM the actions with their join and WHERE, as _counted writes it).
SELECT
    a.pageview_number AS step,
    a.page_id AS page,
    coalesce(a.next_page_id, 0) AS following,
    count(*) AS visits
{scope}
GROUP BY 1, 2, 3
