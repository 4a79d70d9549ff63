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

INSERT INTO web.actions (
    hit_id, idsite, local_date, idvisit, visitor_key, position, hit_time, local_time, kind,
    is_action, url, action_name, link_url, event_category, event_action, event_name,
    event_value, search_keyword, idgoal, revenue, pv_id, seconds_since_previous, url_fragment,
    visit_key, interaction, pageview_number, page_label, next_page_label, time_spent,
    previous_kind, previous_label, next_kind, next_label, first_view_of_page
)
SELECT
    p.hit_id,
    p.idsite,
    p.local_date,
    r.idvisit,
    p.visitor_key,
    p.position,
    p.hit_time,
    CAST((p.hit_time AT TIME ZONE 'UTC') AT TIME ZONE s.timezone AS TIMESTAMP),
    p.kind,
    p.kind IN ('pageview', 'outlink', 'download', 'event', 'search'),
    h.url,
    h.action_name,
    h.link_url,
    h.event_category,
    h.event_action,
    h.event_name,
    h.event_value,
    p.search_keyword,
    h.idgoal,
    h.revenue,
    h.pv_id,
    p.seconds_since_previous,
    h.url_fragment,
    r.visit_key,
    p.interaction,
    p.pageview_number,
    p.page_label,
    p.next_page_label,
    p.time_spent,
    p.previous_kind,
    p.previous_label,
    p.next_kind,
    p.next_label,
    p.first_view_of_page
FROM {placed} AS p
-- the equal hit_time (always so) lets DuckDB skip row groups of web.hits outside the
-- dirty days' times
JOIN web.hits AS h ON h.hit_id = p.hit_id AND h.hit_time = p.hit_time
JOIN web.sites AS s ON s.idsite = p.idsite
LEFT JOIN sorted_visit_keys AS r ON r.visit = p.visit;
