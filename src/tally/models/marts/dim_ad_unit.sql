-- The ad-unit map as a dimension for ad reports: one row per ad unit id from the newest
-- snapshot of the ad operations sheet (staging.ad_units), with a readable placement label.
--   placement  "<platform> / <position>", e.g. "iOS / pre-roll"; the unit's name when either
--              is missing
SELECT
    ad_unit_id,
    ad_unit_name,
    platform,
    position,
    country,
    CASE WHEN platform IS NULL OR position IS NULL THEN ad_unit_name
        ELSE platform || ' / ' || position END AS placement,
    snapshot_date
FROM staging.ad_units
