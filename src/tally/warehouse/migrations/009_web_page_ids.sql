-- Web reports (issue 7): an integer id per page label of a site, and each page view's page
-- and next page by id, so the Users flow groups millions of page views on integers (much
-- cheaper to hash and compare than text) and looks up the labels of the few distinct pages.
-- Ids are given in order of arrival and never change; reports order by label, not by id.
CREATE TABLE IF NOT EXISTS web.pages (
    idsite INTEGER NOT NULL,
    page_id INTEGER NOT NULL,
    label VARCHAR NOT NULL,
    PRIMARY KEY (idsite, page_id)
);
ALTER TABLE web.actions ADD COLUMN page_id INTEGER;
ALTER TABLE web.actions ADD COLUMN next_page_id INTEGER;

-- Page views stored before: their labels get ids and the rows their ids, in place (no
-- rebuild needed).
INSERT INTO web.pages (idsite, page_id, label)
SELECT
    labels.idsite,
    CAST(row_number() OVER (PARTITION BY labels.idsite ORDER BY labels.label) AS INTEGER),
    labels.label
FROM (
    SELECT DISTINCT idsite, page_label AS label FROM web.actions WHERE page_label IS NOT NULL
) AS labels;
UPDATE web.actions
SET page_id = s.page_id, next_page_id = s.next_page_id
FROM (
    SELECT a.hit_id, p.page_id, n.page_id AS next_page_id
    FROM web.actions AS a
    JOIN web.pages AS p ON p.idsite = a.idsite AND p.label = a.page_label
    LEFT JOIN web.pages AS n ON n.idsite = a.idsite AND n.label = a.next_page_label
) AS s
WHERE s.hit_id = web.actions.hit_id;
