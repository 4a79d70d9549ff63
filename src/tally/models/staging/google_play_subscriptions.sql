-- Google Play subscription statistics, one row per day, package, product and country.
-- Google rewrites the month's file every day, so one day appears in many loaded partitions
-- and late revisions are possible: the copy landed latest (highest _partition_date) wins.
SELECT
    date,
    package_name,
    product_id,
    country,
    new_subscriptions,
    cancelled_subscriptions,
    active_subscriptions,
    _partition_date AS reported_on
FROM staging.google_play_subscription_statistics
QUALIFY row_number() OVER (
    PARTITION BY date, package_name, product_id, country ORDER BY _partition_date DESC
) = 1
