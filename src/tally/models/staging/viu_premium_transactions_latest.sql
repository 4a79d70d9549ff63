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
--   by subscription and period start: a row is the latest copy of its event, and a
--   refund's scope reads the prices of its own subscription and period; the rows it keeps
--   are rows of the input (one per transaction_id), so the stored ones stand for the
--   built partitions' copies, and a new copy of a stored event reaches the key that event
--   had (a revision that moves it to another period or subscription); a changed row moves
--   the money from its day (the day in UTC less one: no time zone's day starts earlier);
--   that stored event is found by _transaction_hash, a hash of its id (one number to scan
--   per stored row instead of the id's text), then by the id itself; a keyed read of the
--   rows of some users or subscriptions (the daily build's readers, pipeline/build.py
--   keyed_rows) finds them by _user_hash and _subscription_hash, hashes of those ids, then by
--   the ids themselves (at 1M subscriptions, 6.6M rows: ~0.6 -> ~0.2 CPU s to find the
--   rows of a day's users and subscriptions); the rows found are scattered over the table,
--   so their fetch decodes every block of each column it reads: the two ids (nearly one
--   value a row, little for a dictionary to gain) are stored uncompressed (DuckDB; at 1M
--   subscriptions each id's fetch 0.13 -> 0.06 CPU s, its write cheaper too)
-- @uncompressed subscription_id, user_id
-- @range key subscription_id, period_start
-- @unique transaction_id
-- @stores staging.viu_premium_transactions
-- @probe _transaction_hash = hash(transaction_id)
-- @lookup _user_hash = hash(user_id)
-- @lookup _subscription_hash = hash(subscription_id)
-- @moves CAST(transaction_time AT TIME ZONE 'UTC' AS DATE) - 1: *
WITH latest AS (
    SELECT
        transaction_id, subscription_id, user_id, country, platform, plan_code, product_id,
        channel, channel_sector, type, transaction_time, period_start, period_end, amount,
        currency, proceeds, _partition_date, _file, _line
    FROM staging.viu_premium_transactions AS t
    -- no later copy of the same event: written as an anti-join, not a window, so that the
    -- rows keep the loaded order (by day), which lets a read of a few days skip the rest
    WHERE NOT EXISTS (
        SELECT 1
        FROM staging.viu_premium_transactions AS later
        WHERE later.transaction_id = t.transaction_id
            AND (later._partition_date > t._partition_date
                OR (later._partition_date = t._partition_date AND (later._file > t._file
                    OR (later._file = t._file AND later._line > t._line))))
    )
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
        THEN refund_scope = 'full' OR period_end <= transaction_time END AS ends_access,
    hash(transaction_id) AS _transaction_hash,
    hash(user_id) AS _user_hash,
    hash(subscription_id) AS _subscription_hash
FROM scoped
