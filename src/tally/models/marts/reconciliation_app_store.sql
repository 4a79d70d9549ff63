-- Reconciliation: tally's iOS IAP active subscribers against Apple's own count, the
-- App Store Connect SUBSCRIPTION report (staging.itunes_active_subscriptions), per day and
-- country. Skipped by the build until that report is loaded.
--   apple_active  Active Standard Price + Active Free Trial / Pay Up Front / Pay As You Go
--                 Introductory Offer subscriptions + Grace Period (Apple counts grace
--                 separately; tally counts it as active). Billing Retry is left out, as in tally.
--   tally_active  marts.subscriber_total, platform 'iOS IAP', end of the day
-- Apple's day is Pacific time and tally's the country's: a few subscriptions that start or
-- end between the two midnights make small, expected differences.
WITH apple AS (
    SELECT
        _partition_date AS day, country,
        sum(
            coalesce(active_standard_price_subscriptions, 0)
            + coalesce(active_free_trial_introductory_offer_subscriptions, 0)
            + coalesce(active_pay_up_front_introductory_offer_subscriptions, 0)
            + coalesce(active_pay_as_you_go_introductory_offer_subscriptions, 0)
            + coalesce(grace_period, 0)
        ) AS apple_active
    FROM staging.itunes_active_subscriptions
    GROUP BY 1, 2
),
tally AS (
    SELECT day, country, sum(active) AS tally_active
    FROM marts.subscriber_total
    WHERE platform = 'iOS IAP'
    GROUP BY day, country
)
SELECT
    a.day, a.country, 'iOS IAP' AS platform,
    CAST(coalesce(t.tally_active, 0) AS BIGINT) AS tally_active,
    CAST(a.apple_active AS BIGINT) AS apple_active,
    CAST(coalesce(t.tally_active, 0) - a.apple_active AS BIGINT) AS difference
FROM apple AS a
LEFT JOIN tally AS t ON t.day = a.day AND t.country = a.country
WHERE a.day BETWEEN (SELECT min(day) FROM marts.subscriber_total)
    AND (SELECT max(day) FROM marts.subscriber_total)
