-- The web dashboard's Transitions panel (server/ui/web_behaviour.py transitions): for each
-- view of one page URL, the page viewed before it (or how the visit came: 'entry: ' and
-- the referrer type) and what followed it (a page, another action's kind and URL, or
-- 'exit'), the 12 commonest of each side as (side, label, views). An action's local_date
-- is its visit's: the range lets the scan skip other days. Filled in by dashboard_sql:
-- visits (the scoped visits). Parameters: the scoped visits' own, then the site, first
-- and last day, the page URL, the site, first and last day again.
WITH scoped AS ({visits}),
here AS (
    SELECT a.idvisit, a.position
    FROM web.actions AS a
    JOIN scoped AS v ON v.idvisit = a.idvisit
    WHERE a.idsite = ? AND a.local_date >= ? AND a.local_date <= ? AND a.is_action
        AND a.kind = 'pageview' AND a.url = ?
),
near AS (
    SELECT a.idvisit, a.position, a.url, a.kind
    FROM web.actions AS a
    WHERE a.idsite = ? AND a.local_date >= ? AND a.local_date <= ? AND a.is_action
        AND a.idvisit IN (SELECT idvisit FROM here)
),
came_from AS (
    SELECT
        coalesce(p.url, 'entry: ' || coalesce(v.referrer_type, 'direct')) AS label,
        count(*) AS views
    FROM here AS h
    JOIN scoped AS v ON v.idvisit = h.idvisit
    LEFT JOIN near AS p ON p.idvisit = h.idvisit AND p.position = h.position - 1
    GROUP BY 1
    ORDER BY 2 DESC, 1
    LIMIT 12
),
went_to AS (
    SELECT
        coalesce(
            CASE WHEN n.kind = 'pageview' THEN n.url ELSE n.kind || ': ' || coalesce(n.url, '') END,
            'exit'
        ) AS label,
        count(*) AS views
    FROM here AS h
    LEFT JOIN near AS n ON n.idvisit = h.idvisit AND n.position = h.position + 1
    GROUP BY 1
    ORDER BY 2 DESC, 1
    LIMIT 12
)
SELECT 'before' AS side, label, views FROM came_from
UNION ALL
SELECT 'after' AS side, label, views FROM went_to
