-- The sorted engine's write (web/sorted_sessions.py): web.actions of the dirty site-days
-- from the hits placed in numpy ({placed}: each hit with its visit, named by the index of
-- the visit's first hit in the sorted order, and its place in it; {visits}: each visit's
-- first hit and its totals), the stored hit's wide columns joined here. As actions.sql's
-- "visit_ranks": a visit's idvisit is the md5 of its first hit's id and its integer key
-- ranks the idvisits of the site-day; kept for the run (sorted_visits.sql reads them too).
DELETE FROM web.actions
WHERE EXISTS (
    SELECT 1 FROM web.dirty_days AS d
    WHERE d.idsite = web.actions.idsite AND d.local_date = web.actions.local_date
);

CREATE OR REPLACE TEMPORARY TABLE sorted_visit_keys AS
WITH named AS (
    SELECT
        v.visit,
        v.idsite,
        v.local_date,
        md5(CAST(v.idsite AS VARCHAR) || '|' || v.first_hit_id) AS idvisit
    FROM {visits} AS v
)
SELECT
    n.visit,
    n.idvisit,
    (CAST(n.idsite AS BIGINT) * 100000 + (n.local_date - DATE '1970-01-01'))
        * 10000000
        + row_number() OVER (PARTITION BY n.idsite, n.local_date ORDER BY n.idvisit)
        AS visit_key
FROM named AS n;

{insert_actions}
SELECT
{hit_columns}
    r.visit_key,
    c.interaction,
    c.pageview_number,
    c.page_label,
    c.next_page_label,
    c.time_spent,
    c.previous_kind,
    c.previous_label,
    c.next_kind,
    c.next_label,
    c.first_view_of_page
FROM {placed} AS c
-- the equal hit_time (always so) lets DuckDB skip row groups of web.hits outside the
-- dirty days' times
JOIN web.hits AS h ON h.hit_id = c.hit_id AND h.hit_time = c.hit_time
JOIN web.sites AS s ON s.idsite = c.idsite
LEFT JOIN sorted_visit_keys AS r ON r.visit = c.visit;
