-- Reconciliation: tally's Android IAP active subscribers against Google Play's
-- "Active Subscriptions" (staging.google_play_subscriptions: the latest revision of each
-- day of the monthly statistics files), per day and country. Skipped by the build until
-- the Google Play statistics are loaded.
--   google_active  sum of Active Subscriptions over the products of that day and country
--   tally_active   marts.subscriber_total, platform 'Android IAP', end of the day
WITH google AS (
    SELECT date AS day, country, sum(active_subscriptions) AS google_active
    FROM staging.google_play_subscriptions
    GROUP BY date, country
),
tally AS (
    SELECT day, country, sum(active) AS tally_active
    FROM marts.subscriber_total
    WHERE platform = 'Android IAP'
    GROUP BY day, country
)
SELECT
    g.day, g.country, 'Android IAP' AS platform,
    CAST(coalesce(t.tally_active, 0) AS BIGINT) AS tally_active,
    CAST(g.google_active AS BIGINT) AS google_active,
    CAST(coalesce(t.tally_active, 0) - g.google_active AS BIGINT) AS difference
FROM google AS g
LEFT JOIN tally AS t ON t.day = g.day AND t.country = g.country
-- only days tally has loaded: Google's monthly file also holds the month's earlier days
WHERE g.day BETWEEN (SELECT min(day) FROM marts.subscriber_total)
    AND (SELECT max(day) FROM marts.subscriber_total)
