-- Content window vs subscription: for each episode release in the CMS data
-- (staging.viu_cms_episodes), the new subscribers of the release's country in the N days
-- after it (release day included) against the N days before it.
--   subscribers_before  sum of New subscriber + Reactivation, release_date-N .. release_date-1
--   subscribers_after   the same, release_date .. release_date+N-1
--   uplift              subscribers_after - subscribers_before
--   days_before/after   days of that window inside the loaded data (a window reaching past
--                       the loaded days is partial: compare like with like)
-- N is the setting marts.content_window_days (default 7), carried in marts.dim_country.
WITH daily AS (
    SELECT day, country, sum(new_subscribers + reactivations) AS starts
    FROM marts.subscriber_daily
    GROUP BY day, country
),
releases AS (
    SELECT DISTINCT e.series_id, e.series_title, e.episode_id, e.episode_number, e.country,
        e.release_date, CAST(z.content_window_days AS INTEGER) AS window_days
    FROM staging.viu_cms_episodes AS e
    JOIN marts.dim_country AS z ON z.code = e.country
    WHERE e.release_date IS NOT NULL
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
    AND d.day >= r.release_date - r.window_days
    AND d.day <= r.release_date + r.window_days - 1
GROUP BY r.country, r.series_id, r.series_title, r.episode_id, r.episode_number, r.release_date
