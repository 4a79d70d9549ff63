-- The IAP plan map as the sheet reads today: store product id → plan name, plan code,
-- platform, channel, and the Apple ID the App Store reports use. Each day's load is a full
-- snapshot, so the newest one is the map.
SELECT
    product_id,
    plan_name,
    plan_code,
    platform,
    channel_name,
    channel_sector,
    apple_id,
    _partition_date AS snapshot_date
FROM staging.google_drive_iap_plan_map
WHERE _partition_date = (SELECT max(_partition_date) FROM staging.google_drive_iap_plan_map)
