-- UsersFlow.getUsersFlow's exploreStep/exploreUrl (web/reporting/usersflow.py _explored): a
-- condition on web.actions AS a keeping the page views, up to the last step shown, of the
-- visits whose page view number exploreStep was the explored page. matched: the condition
-- on that page view (e: web.actions), by page id or by title. Parameters: the last step,
-- the site, the first and last local date, the explored step, then matched's.
a.pageview_number <= ? AND a.visit_key IN (
    SELECT e.visit_key
    FROM web.actions AS e
    WHERE e.idsite = ? AND e.local_date >= ? AND e.local_date <= ?
        AND e.pageview_number = ? AND e.page_id IS NOT NULL AND {matched}
)
