-- A stored latest period of a touched subscription as the periods model's "described" row
-- it came from (pipeline/extension.py: the daily build's extension unions these with the
-- new billing events' described rows). "tails" holds the stored latest periods
-- (marts.subscription_last_periods), "touched" the subscriptions with new events. Not a
-- model (the leading underscore).
SELECT
    subscription_id, user_id, country, platform, plan_code, product_id, channel,
    channel_sector, kind, period_start AS start_date, billed_end AS end_date, paid_on,
    source_rank AS priority, source_time AS seen_at, continues,
    -- older than any snapshot the day brings (the model's tie-break: the latest snapshot)
    CAST(NULL AS DATE) AS snapshot_day
FROM tails
WHERE subscription_id IN (SELECT subscription_id FROM touched)
