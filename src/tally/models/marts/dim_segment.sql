-- Segments: one row per segment_id of subscription_mrr, with the six columns it stands for
-- (a star schema's dimension: the MRR marts key their rows on the number and join this
-- for the readable names):
--   segment_id      the hash of the six below, as subscription_mrr computes it (DuckDB's
--                   hash of several values; PostgreSQL hashtextextended, Redshift fnv_hash,
--                   Spark xxhash64 of them: a 64-bit number, the same for the same six
--                   on one backend whatever else the data holds, so a daily build never
--                   renumbers a stored row)
--   country, platform, plan_code, channel, channel_sector   those of the MRR period
--   currency        its price's currency
-- The six are found among the candidates, not read back from subscription_mrr (which
-- keeps only the number): every (country, platform, plan, channel, sector) of a paid or
-- grace period with days, times every currency a purchase or renewal was billed in (a list
-- price is one of those too: plan_list_prices), kept where subscription_mrr has its hash.
-- Two candidates sharing a hash would need ~4 billion segments to be likely.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): rebuilt whole (a few
-- rows; one pass over the periods' five texts, the billed currencies and the MRR periods'
-- numbers), only changed rows replaced. A segment comes or goes only with the MRR periods
-- that carry its number, whose own change moves the marts downstream, and its names never
-- change under its number (they are what the number is made of): so its change moves no
-- day (the day NULL) and names no key of its own. Nor is it rebuilt on a day no segment
-- came or went (most days: at 1M subscriptions, busy, 0.3 CPU s spared): only an MRR
-- period of a number it lacks, or a number no MRR period carries any more, reaches it;
-- the periods' and transactions' changes reach it through the MRR periods alone. (The
-- numbers carried are read DISTINCT first: a NOT IN over the 6.2M MRR periods themselves
-- cost 0.4 CPU s, more than the rebuild.)
-- @range all
-- @unique segment_id
-- @moves CAST(NULL AS DATE): *
-- @reaches marts.subscription_mrr WHERE segment_id NOT IN (SELECT segment_id FROM marts.dim_segment) OR (_old AND segment_id NOT IN (SELECT DISTINCT segment_id FROM marts.subscription_mrr))
-- @reaches marts.subscription_periods WHERE false
-- @reaches staging.viu_premium_transactions_latest WHERE false
WITH present AS (
    SELECT DISTINCT segment_id FROM marts.subscription_mrr
),
named AS (
    SELECT DISTINCT country, platform, plan_code, channel, channel_sector
    FROM marts.subscription_periods
    WHERE kind IN ('paid', 'grace') AND period_end > period_start
),
currencies AS (
    SELECT DISTINCT currency
    FROM staging.viu_premium_transactions_latest
    WHERE type IN ('purchase', 'renewal') AND amount > 0
),
candidates AS (
    SELECT
        hash(n.country, n.platform, n.plan_code, n.channel, n.channel_sector, c.currency)
            AS segment_id,
        n.country, n.platform, n.plan_code, n.channel, n.channel_sector, c.currency
    FROM named AS n
    CROSS JOIN currencies AS c
)
SELECT c.segment_id, c.country, c.platform, c.plan_code, c.channel, c.channel_sector,
    c.currency
FROM candidates AS c
WHERE c.segment_id IN (SELECT segment_id FROM present)
