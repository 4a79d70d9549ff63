-- The viu-premium billing events, one row per transaction_id: the rule for duplicated and
-- revised events (docs/metrics.md, "Duplicates and revisions"). Every model that counts
-- money or refunds reads this table, never staging.viu_premium_transactions (every copy
-- as loaded).
--   key          transaction_id (the subscription system's id of one billing event)
--   which copy   the one from the latest file: the greatest _partition_date, then the
--                greatest file name, then the last line; a revision is the same id sent
--                again with other values, and it replaces the earlier copy everywhere
--                (money, counts, periods) from the day the earlier copy counted on
--   deletion     the export never deletes: a charge taken back arrives as a refund row
--                with its own transaction_id
-- Two columns say what a refund does, from the refunded period's price (the greatest
-- purchase or renewal amount of the same subscription and period start):
--   refund_scope  'full' when it gives back at least that price (or the price is not
--                 loaded), 'partial' otherwise; NULL for other types
--   ends_access   a full refund, or one whose period_end is at or before its own time (the
--                 subscription system cut access at the refund); a partial refund that
--                 does not say so keeps access
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"):
--   by subscription: every copy of its events decides its rows; a changed row moves the
--   money from its day (the day in UTC less one: no time zone's day starts earlier)
-- @range key subscription_id
-- @unique transaction_id
-- @reads staging.viu_premium_transactions WHERE subscription_id IN {keys}
-- @moves CAST(transaction_time AT TIME ZONE 'UTC' AS DATE) - 1: *
WITH latest AS (
    SELECT
        transaction_id, subscription_id, user_id, country, platform, plan_code, product_id,
        channel, channel_sector, type, transaction_time, period_start, period_end, amount,
        currency, proceeds, _partition_date, _file, _line
    FROM staging.viu_premium_transactions
    QUALIFY row_number() OVER (
        PARTITION BY transaction_id ORDER BY _partition_date DESC, _file DESC, _line DESC
    ) = 1
),
prices AS (
    SELECT subscription_id, period_start, max(amount) AS price
    FROM latest
    WHERE type IN ('purchase', 'renewal')
    GROUP BY subscription_id, period_start
),
scoped AS (
    SELECT l.*,
        CASE WHEN l.type <> 'refund' THEN CAST(NULL AS VARCHAR)
            WHEN p.price IS NULL OR -l.amount >= p.price - 0.005 THEN 'full'
            ELSE 'partial' END AS refund_scope
    FROM latest AS l
    LEFT JOIN prices AS p
        ON l.type = 'refund' AND p.subscription_id = l.subscription_id
        AND p.period_start = l.period_start
)
SELECT *,
    CASE WHEN type = 'refund'
        THEN refund_scope = 'full' OR period_end <= transaction_time END AS ends_access
FROM scoped
