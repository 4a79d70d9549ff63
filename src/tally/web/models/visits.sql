-- One row per visit of the dirty site-days, from web.actions (placed by actions.sql) and
-- web.conversions. Duration runs from the first to the last hit, pings included, so time
-- spent on the last page counts when heartbeats were on; actions exclude pings and goals.
-- Device, country and provider are those of the visit's first hit; referrer and campaign
-- too, unless a direct visit took a later hit's campaign.
DELETE FROM web.visits
WHERE EXISTS (
    SELECT 1 FROM web.dirty_days AS d
    WHERE d.idsite = web.visits.idsite AND d.local_date = web.visits.local_date
);

{insert_visits}
WITH scoped AS (
    -- Only the columns used below, and the visit by its integer key (visit_key, one per
    -- idvisit, from actions.sql): grouping and joining on integers is much cheaper than on
    -- the 32-character idvisit.
    SELECT
        a.visit_key,
        a.idvisit,
        a.hit_id,
        a.position,
        a.hit_time,
        a.idsite,
        a.local_date,
        a.visitor_key,
        a.is_action,
        a.kind,
        a.url,
        a.action_name,
        a.page_label,
        a.pageview_number
    FROM web.actions AS a
    JOIN web.dirty_days AS d ON d.idsite = a.idsite AND d.local_date = a.local_date
    WHERE a.idvisit IS NOT NULL
),
totals AS (
    SELECT
        s.visit_key,
        min(s.idvisit) AS idvisit,
        min(s.idsite) AS idsite,
        min(s.local_date) AS local_date,
        min(s.visitor_key) AS visitor_key,
        min(s.hit_time) AS started_at,
        max(s.hit_time) AS ended_at,
        count(*) FILTER (WHERE s.is_action) AS actions,
        count(*) FILTER (WHERE s.kind = 'pageview') AS pageviews,
        count(*) FILTER (WHERE s.kind = 'outlink') AS outlinks,
        count(*) FILTER (WHERE s.kind = 'download') AS downloads,
        count(*) FILTER (WHERE s.kind = 'event') AS events,
        count(*) FILTER (WHERE s.kind = 'search') AS searches,
        -- the visit's first page view (the one numbered 1: read here, not by a join) and
        -- its last
        max(CASE WHEN s.kind = 'pageview' AND s.pageview_number = 1 THEN s.url END)
            AS entry_url,
        max(CASE WHEN s.kind = 'pageview' AND s.pageview_number = 1 THEN s.action_name END)
            AS entry_title,
        max(CASE WHEN s.kind = 'pageview' AND s.pageview_number = 1 THEN s.page_label END)
            AS entry_label,
        max(s.position) FILTER (WHERE s.kind = 'pageview') AS exit_position,
        max(CASE WHEN s.position = 1 THEN s.hit_id END) AS first_hit_id
    FROM scoped AS s
    GROUP BY s.visit_key
),
identities AS (
    -- A visit that came in directly takes the campaign a later hit brings (Matomo's
    -- plugins/Referrers/Columns/Campaign.php): its referrer is the first campaign hit's.
    SELECT
        s.visit_key,
        max(h.visitor_id) AS visitor_id,
        max(h.user_id) AS user_id,
        coalesce(min(CASE WHEN h.referrer_type = 'campaign' THEN s.position END), 1)
            AS referrer_position,
        -- the first hit's device, country and provider (one hit has position 1), read in
        -- this join of every hit rather than by a join of their own
        max(CASE WHEN s.position = 1 THEN h.device_type END) AS device_type,
        max(CASE WHEN s.position = 1 THEN h.os_name END) AS os_name,
        max(CASE WHEN s.position = 1 THEN h.browser_name END) AS browser_name,
        max(CASE WHEN s.position = 1 THEN h.country END) AS country,
        max(CASE WHEN s.position = 1 THEN h.provider END) AS provider
    FROM scoped AS s
    -- the equal hit_time (always so) lets DuckDB skip row groups of web.hits outside the
    -- dirty days' times: a day's run reads that day's hits, not all of them
    JOIN web.hits AS h ON h.hit_id = s.hit_id AND h.hit_time = s.hit_time
    GROUP BY s.visit_key
),
{visit_goals}
SELECT
    t.idvisit,
    t.idsite,
    t.local_date,
    t.visitor_key,
    i.visitor_id,
    i.user_id,
    t.first_hit_id,
    t.started_at,
    t.ended_at,
    date_diff('second', t.started_at, t.ended_at),
    t.actions,
    t.pageviews,
    t.outlinks,
    t.downloads,
    t.events,
    t.searches,
    t.entry_url,
    t.entry_title,
{referrer_columns}
    t.visit_key,
    t.entry_label,
    leaving.page_label,
    i.provider
FROM totals AS t
JOIN identities AS i ON i.visit_key = t.visit_key
JOIN scoped AS rs ON rs.visit_key = t.visit_key AND rs.position = i.referrer_position
JOIN web.hits AS r ON r.hit_id = rs.hit_id AND r.hit_time = rs.hit_time
LEFT JOIN scoped AS leaving
    ON leaving.visit_key = t.visit_key AND leaving.position = t.exit_position
LEFT JOIN goals AS g ON g.idvisit = t.idvisit;
