-- The subscription dashboard's "Episodes released" panel (server/ui/subscriptions.py):
-- per day, the episodes the newest viu-cms export lists as released that day beside the
-- day's new subscribers of the filters. Not a model (the leading underscore): read by
-- warehouse.sqlfiles.sql_file with the fragments country (the AND of a chosen country,
-- or nothing) and where (the filters' WHERE over marts.report_fact). Parameters: first
-- day, the country if any, the filters' own, first day.
WITH latest AS (
    SELECT * FROM staging.viu_cms_episodes
    WHERE _partition_date = (SELECT max(_partition_date) FROM staging.viu_cms_episodes)
),
released AS (
    SELECT release_date AS day, count(DISTINCT episode_id) AS episodes
    FROM latest WHERE release_date >= ?{country} GROUP BY 1
),
joined AS (
    SELECT start_date AS day, sum(value) AS new_subscribers
    FROM marts.report_fact
    WHERE {where} AND type = 'New subscriber' AND start_date >= ?
    GROUP BY 1
)
SELECT coalesce(r.day, j.day), coalesce(r.episodes, 0), coalesce(j.new_subscribers, 0)
FROM released AS r FULL OUTER JOIN joined AS j ON r.day = j.day
ORDER BY 1
