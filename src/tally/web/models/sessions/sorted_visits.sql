-- The sorted engine's visits (web/sorted_sessions.py), after conversions.sql: one row per
-- visit of the dirty site-days, as visits.sql makes them from web.actions, here from the
-- totals numpy worked out over the sorted hits ({visits}: each visit's first hit, its
-- times and counts, and the hits its referrer, entry and exit are read from) and each
-- visit's hits ({placed}: the greatest visitor id and user id of its hits). The stored hits
-- are read for four hits a visit, not joined with every hit. Keep the two alike.
DELETE FROM web.visits
WHERE EXISTS (
    SELECT 1 FROM web.dirty_days AS d
    WHERE d.idsite = web.visits.idsite AND d.local_date = web.visits.local_date
);

{insert_visits}
WITH day_hits AS (
    -- the stored hits of the dirty days' span: a day's run reads that day's row groups of
    -- web.hits (the LEFT JOINs below would otherwise hash the whole table)
    SELECT h.*
    FROM web.hits AS h
    WHERE h.hit_time >= (SELECT min(utc_start) FROM web.dirty_days)
        AND h.hit_time < (SELECT max(utc_end) FROM web.dirty_days)
),
identities AS (
    SELECT p.visit, max(p.visitor_id) AS visitor_id, max(p.user_id) AS user_id
    FROM {placed} AS p
    WHERE p.visit IS NOT NULL
    GROUP BY p.visit
),
{visit_goals}
SELECT
    k.idvisit,
    v.idsite,
    v.local_date,
    v.visitor_key,
    i.visitor_id,
    i.user_id,
    v.first_hit_id,
    v.started_at,
    v.ended_at,
    date_diff('second', v.started_at, v.ended_at),
    v.actions,
    v.pageviews,
    v.outlinks,
    v.downloads,
    v.events,
    v.searches,
    entry.url,
    entry.action_name,
{referrer_columns}
    k.visit_key,
    v.entry_label,
    v.exit_label,
    f.provider
FROM {visits} AS v
JOIN sorted_visit_keys AS k ON k.visit = v.visit
JOIN identities AS i ON i.visit = v.visit
JOIN day_hits AS f ON f.hit_id = v.first_hit_id AND f.hit_time = v.started_at
JOIN day_hits AS r ON r.hit_id = v.referrer_hit_id AND r.hit_time = v.referrer_time
LEFT JOIN day_hits AS entry ON entry.hit_id = v.entry_hit_id AND entry.hit_time = v.entry_time
LEFT JOIN day_hits AS leaving
    ON leaving.hit_id = v.exit_hit_id AND leaving.hit_time = v.exit_time
LEFT JOIN goals AS g ON g.idvisit = k.idvisit;

DROP TABLE sorted_visit_keys;
