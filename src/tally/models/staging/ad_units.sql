-- Ad unit id → name, platform, position and country, from the newest daily snapshot of the
-- ad operations sheet (each snapshot is the whole sheet).
SELECT
    ad_unit_id,
    ad_unit_name,
    platform,
    position,
    country,
    _partition_date AS snapshot_date
FROM staging.google_drive_ad_unit_id_mapping
WHERE _partition_date = (SELECT max(_partition_date) FROM staging.google_drive_ad_unit_id_mapping)
