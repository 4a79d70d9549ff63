-- Google Play's own new and cancelled subscription counts in report_fact's long layout (the
-- same columns), a table of its own so that report_fact never waits for Google's files: the
-- build skips this model until the subscription statistics are loaded.
--   type            'store_google_new' (Google's New Subscriptions) and
--                   'store_google_cancelled' (Cancelled Subscriptions): flows, per Google's
--                   Date, from staging.google_play_subscriptions (the latest landed copy of
--                   each day: Google rewrites the month's file every day)
--   resolution_type 'daily'; 'weekly' (ISO week, start_date its Monday) and 'monthly'
--                   (start_date the 1st) are sums of the daily counts
--   country         Google's Country; platform 'Android IAP'
--   meta_1 Product ID, meta_2 Package Name; meta_3 .. meta_8 NULL.
-- Google's Active Subscriptions (a stock) is compared with tally's count in
-- reconciliation_google_play, not repeated here. Rows whose value is 0 are left out.
WITH daily AS (
    SELECT 'store_google_new' AS type, date AS day, country, product_id, package_name,
        new_subscriptions AS value
    FROM staging.google_play_subscriptions
    UNION ALL
    SELECT 'store_google_cancelled', date, country, product_id, package_name,
        cancelled_subscriptions
    FROM staging.google_play_subscriptions
),
resolved AS (
    SELECT type, 'daily' AS resolution_type, day AS start_date, country, product_id,
        package_name, value
    FROM daily
    UNION ALL
    SELECT type, 'weekly', CAST(date_trunc('week', day) AS DATE), country, product_id,
        package_name, value
    FROM daily
    UNION ALL
    SELECT type, 'monthly', CAST(date_trunc('month', day) AS DATE), country, product_id,
        package_name, value
    FROM daily
)
SELECT
    CAST(type AS VARCHAR) AS type,
    CAST(resolution_type AS VARCHAR) AS resolution_type,
    CAST(country AS VARCHAR) AS country,
    CAST('Android IAP' AS VARCHAR) AS platform,
    CAST(start_date AS DATE) AS start_date,
    CAST(product_id AS VARCHAR) AS meta_1,
    CAST(package_name AS VARCHAR) AS meta_2,
    CAST(NULL AS VARCHAR) AS meta_3,
    CAST(NULL AS VARCHAR) AS meta_4,
    CAST(NULL AS VARCHAR) AS meta_5,
    CAST(NULL AS VARCHAR) AS meta_6,
    CAST(NULL AS VARCHAR) AS meta_7,
    CAST(NULL AS VARCHAR) AS meta_8,
    CAST(sum(value) AS DOUBLE) AS value
FROM resolved
GROUP BY type, resolution_type, start_date, country, product_id, package_name
HAVING sum(value) <> 0
