-- Page ids for the dirty site-days (after actions.sql): labels a site has not had before get
-- the next ids of the site (web.pages), then each page view gets its page's id and its next
-- page's, so reports can group page views on integers (the Users flow).
INSERT INTO web.pages (idsite, page_id, label)
SELECT
    fresh.idsite,
    CAST(coalesce(last.page_id, 0)
        + row_number() OVER (PARTITION BY fresh.idsite ORDER BY fresh.label) AS INTEGER),
    fresh.label
FROM (
    SELECT DISTINCT a.idsite, a.page_label AS label
    FROM web.actions AS a
    JOIN web.dirty_days AS d ON d.idsite = a.idsite AND d.local_date = a.local_date
    WHERE a.page_label IS NOT NULL
        AND NOT EXISTS (
            SELECT 1 FROM web.pages AS known
            WHERE known.idsite = a.idsite AND known.label = a.page_label
        )
) AS fresh
LEFT JOIN (
    SELECT idsite, max(page_id) AS page_id FROM web.pages GROUP BY idsite
) AS last ON last.idsite = fresh.idsite;

UPDATE web.actions
SET page_id = s.page_id, next_page_id = s.next_page_id
FROM (
    SELECT a.hit_id, a.idsite, a.local_date, p.page_id, n.page_id AS next_page_id
    FROM web.actions AS a
    JOIN web.dirty_days AS d ON d.idsite = a.idsite AND d.local_date = a.local_date
    JOIN web.pages AS p ON p.idsite = a.idsite AND p.label = a.page_label
    LEFT JOIN web.pages AS n ON n.idsite = a.idsite AND n.label = a.next_page_label
) AS s
-- the site-day as well: only the dirty days' row groups of web.actions are read
WHERE s.hit_id = web.actions.hit_id
    AND s.idsite = web.actions.idsite AND s.local_date = web.actions.local_date;
