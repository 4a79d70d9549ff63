-- Every refund row of the premium transactions (one copy of each, with its scope and
-- whether it ends access: staging/viu_premium_transactions_latest.sql). Working state of the daily build
-- (pipeline/extension.py), which reads the refunds of the subscriptions it extends from
-- here: a refund may be loaded before the period it cuts, so the extension needs all of a
-- subscription's refunds, and finding them in the whole staging table means decompressing
-- nearly every row group (refunds are few but spread over every day). No report reads it.
-- The export's columns and the partition day; not the load's (file, line, run), which a
-- reload changes while the refunds stay the same.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"):
--   each row comes from one row of the latest copies: rebuilt from those that changed
-- @range each staging.viu_premium_transactions_latest
-- @unique transaction_id
SELECT
    transaction_id, subscription_id, user_id, country, platform, plan_code, product_id,
    channel, channel_sector, type, transaction_time, period_start, period_end, amount,
    currency, proceeds, refund_scope, ends_access, _partition_date
FROM staging.viu_premium_transactions_latest
WHERE type = 'refund'
