-- The web dashboard's Users flow (server/ui/web_behaviour.py users_flow): page views by
-- interaction step, the busiest pages of each step kept and the rest merged as 'Others',
-- then (step, page, next step's page, visits). Filled in by dashboard_sql: visits (the
-- scoped visits). Parameters: the visits' own, idsite, first and last local date, the
-- last step, pages kept per step.
WITH scoped AS ({visits}),
seen AS (
    SELECT a.visit_key, a.url, a.pageview_number AS step
    FROM web.actions AS a
    JOIN scoped AS v ON v.visit_key = a.visit_key
    WHERE a.kind = 'pageview' AND a.idsite = ? AND a.local_date >= ? AND a.local_date <= ?
),
ranked AS (
    SELECT step, url, count(*) AS views,
        row_number() OVER (PARTITION BY step ORDER BY count(*) DESC, url) AS place
    FROM seen WHERE step <= ? GROUP BY 1, 2
),
named AS (
    SELECT s.visit_key, s.step, CASE WHEN r.place <= ? THEN s.url ELSE 'Others' END AS page
    FROM seen AS s JOIN ranked AS r ON r.step = s.step AND r.url = s.url
)
SELECT a.step, a.page, b.page, count(*)
FROM named AS a JOIN named AS b ON b.visit_key = a.visit_key AND b.step = a.step + 1
GROUP BY 1, 2, 3
ORDER BY 1, 4 DESC
