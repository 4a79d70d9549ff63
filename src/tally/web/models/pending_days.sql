-- The site-days holding hits that no sessionize run has placed yet (hits not in web.actions).
-- A visit never crosses the site's midnight, so a site-day is a closed unit: recomputing
-- only these days gives the same visits as recomputing everything.
-- Only hits of the UTC days where web.hits holds more rows than web.actions are looked up:
-- every action is a hit with that hit's hit_time, one at most per hit (a run deletes its
-- days' actions before writing them; a key on PostgreSQL, not on DuckDB: migration 112),
-- and web.hits only grows, so a UTC day with as many actions as hits has every hit
-- placed. Counting both tables by day reads two narrow columns; looking up every hit ever
-- stored by its text hit_id cost a day's run more than its own work (0.36 CPU s of 1.2 at
-- 1.2M hits, growing with the table).
WITH hit_days AS (
    SELECT idsite, CAST(hit_time AS DATE) AS utc_date, count(*) AS hits
    FROM web.hits
    GROUP BY idsite, CAST(hit_time AS DATE)
),
placed_days AS (
    SELECT idsite, CAST(hit_time AS DATE) AS utc_date, count(*) AS placed
    FROM web.actions
    GROUP BY idsite, CAST(hit_time AS DATE)
),
unplaced_days AS (
    SELECT h.idsite, h.utc_date
    FROM hit_days AS h
    LEFT JOIN placed_days AS p ON p.idsite = h.idsite AND p.utc_date = h.utc_date
    WHERE p.placed IS NULL OR p.placed <> h.hits
),
unplaced_actions AS (
    -- the actions of those days only: the lookup below hashes their hit ids, not all
    SELECT a.hit_id
    FROM web.actions AS a
    JOIN unplaced_days AS u ON u.idsite = a.idsite AND u.utc_date = CAST(a.hit_time AS DATE)
    -- implied by the join, but a bound on the column itself lets DuckDB skip the row
    -- groups outside those days (the join on a cast of hit_time cannot): a day's run read
    -- every hit_id of the year here, 0.08 of its 0.12 CPU s at 1.2M hits (busy)
    WHERE a.hit_time >= (SELECT min(utc_date) FROM unplaced_days)
        AND a.hit_time < (SELECT max(utc_date) FROM unplaced_days) + 1
)
SELECT DISTINCT
    h.idsite,
    CAST((h.hit_time AT TIME ZONE 'UTC') AT TIME ZONE s.timezone AS DATE) AS local_date,
    s.timezone
FROM web.hits AS h
JOIN unplaced_days AS u ON u.idsite = h.idsite AND u.utc_date = CAST(h.hit_time AS DATE)
JOIN web.sites AS s ON s.idsite = h.idsite
LEFT JOIN unplaced_actions AS a ON a.hit_id = h.hit_id
WHERE a.hit_id IS NULL
    AND h.hit_time >= (SELECT min(utc_date) FROM unplaced_days)  -- as above
    AND h.hit_time < (SELECT max(utc_date) FROM unplaced_days) + 1
ORDER BY 1, 2
