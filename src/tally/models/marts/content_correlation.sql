-- Correlation between releases and new subscribers over time, per country: Pearson's r
-- between the number of episodes released on a day and that day's new subscribers
-- (New subscriber + Reactivation), over every loaded day (days without a release count 0).
-- Also r with the next day's new subscribers (lag 1), since a release in the evening
-- brings sign-ups the day after. NULL when a series is constant (e.g. no releases at all).
WITH daily AS (
    SELECT day, country, sum(new_subscribers + reactivations) AS starts
    FROM marts.subscriber_daily
    GROUP BY day, country
),
released AS (
    SELECT release_date AS day, country, count(DISTINCT episode_id) AS episodes
    FROM staging.viu_cms_episodes
    GROUP BY release_date, country
),
joined AS (
    SELECT
        d.day, d.country,
        CAST(coalesce(r.episodes, 0) AS DOUBLE) AS episodes,
        CAST(d.starts AS DOUBLE) AS starts,
        CAST(lead(d.starts) OVER (PARTITION BY d.country ORDER BY d.day) AS DOUBLE)
            AS next_day_starts
    FROM daily AS d
    LEFT JOIN released AS r ON r.day = d.day AND r.country = d.country
)
SELECT
    country,
    min(day) AS first_day,
    max(day) AS last_day,
    CAST(count(*) AS BIGINT) AS days,
    CAST(sum(episodes) AS BIGINT) AS episodes_released,
    corr(episodes, starts) AS correlation_same_day,
    corr(episodes, next_day_starts) AS correlation_next_day
FROM joined
GROUP BY country
