-- App Store active subscriptions named with tally's plans. Apple's Subscription report names
-- a subscription by its Apple ID, so the IAP plan map's Apple ID column joins them; an ID
-- the map does not know keeps its rows with plan_code NULL.
SELECT
    a.report_date,
    a.country,
    a.subscription_name,
    a.subscription_apple_id,
    a.active_standard_price_subscriptions,
    a.active_free_trial_introductory_offer_subscriptions,
    a.billing_retry,
    a.grace_period,
    m.product_id,
    m.plan_code,
    m.plan_name,
    m.platform,
    m.channel_name,
    m.channel_sector,
    a._partition_date
FROM staging.itunes_active_subscriptions AS a
LEFT JOIN staging.iap_plan_map AS m ON m.apple_id = a.subscription_apple_id
