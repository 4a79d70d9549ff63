-- Content window vs subscription: for each episode release in the CMS data
-- (staging.viu_cms_episodes), the new subscribers of the release's country in the 7 days
-- after it (release day included) against the 7 days before it.
--   subscribers_before  sum of New subscriber + Reactivation, release_date-7 .. release_date-1
--   subscribers_after   the same, release_date .. release_date+6
--   uplift              subscribers_after - subscribers_before
--   days_before/after   days of that window inside the loaded data (a window reaching past
--                       the loaded days is partial: compare like with like)
-- The window is 7 days (change WINDOW below and in docs/metrics.md together).
WITH daily AS (
    SELECT day, country, sum(new_subscribers + reactivations) AS starts
    FROM marts.subscriber_daily
    GROUP BY day, country
),
releases AS (
    SELECT DISTINCT series_id, series_title, episode_id, episode_number, country, release_date
    FROM staging.viu_cms_episodes
    WHERE release_date IS NOT NULL
)
SELECT
    r.country, r.series_id, r.series_title, r.episode_id, r.episode_number, r.release_date,
    CAST(coalesce(sum(CASE WHEN d.day < r.release_date THEN d.starts END), 0) AS BIGINT)
        AS subscribers_before,
    CAST(coalesce(sum(CASE WHEN d.day >= r.release_date THEN d.starts END), 0) AS BIGINT)
        AS subscribers_after,
    CAST(coalesce(sum(CASE WHEN d.day >= r.release_date THEN d.starts END), 0)
        - coalesce(sum(CASE WHEN d.day < r.release_date THEN d.starts END), 0) AS BIGINT)
        AS uplift,
    CAST(count(CASE WHEN d.day < r.release_date THEN 1 END) AS BIGINT) AS days_before,
    CAST(count(CASE WHEN d.day >= r.release_date THEN 1 END) AS BIGINT) AS days_after
FROM releases AS r
LEFT JOIN daily AS d
    ON d.country = r.country
    AND d.day >= r.release_date - 7 AND d.day <= r.release_date + 6
GROUP BY r.country, r.series_id, r.series_title, r.episode_id, r.episode_number, r.release_date
