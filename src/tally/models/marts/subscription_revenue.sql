-- Subscription revenue: per subscription, what it paid to the newest loaded day
-- (purchases and renewals net of refunds, each transaction once: staging's latest copy),
-- in its currency and converted to the reporting currency at each transaction's day's
-- rate (revenue_reporting NULL when any of its transactions lacks a rate).
--   first_paid_day  the business day of its first purchase or renewal (NULL: never paid)
--   currency        the currency of its transactions (a subscription bills in one)
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): by subscription:
-- @range key subscription_id
-- @unique subscription_id
-- @reads staging.viu_premium_transactions_latest WHERE subscription_id IN {keys}
-- @every marts.dim_country_offset
-- each transaction's business day worked out once, read by the rate join and the first paid
-- day (written twice, DuckDB converted every row's time zone twice: the conversion was
-- about a third of this model's CPU; 0.39 -> 0.28 s at 200,000 subscriptions); by
-- arithmetic inside the country's stretch without an offset change, converted outside it
-- (marts.dim_country_offset: at 1M subscriptions the conversion of 6.6M transaction
-- times cost ~0.9 of this model's ~2.5 CPU s)
WITH transactions AS (
    SELECT t.subscription_id, t.type, t.amount, t.currency,
        CASE WHEN t.transaction_time >= z.steady_from AND t.transaction_time < z.steady_until
            THEN DATE '1970-01-01'
                + CAST(floor((epoch(t.transaction_time) + z.utc_offset) / 86400) AS INTEGER)
            ELSE CAST(t.transaction_time AT TIME ZONE z.timezone AS DATE) END
            AS transaction_day
    FROM staging.viu_premium_transactions_latest AS t
    JOIN marts.dim_country_offset AS z ON z.code = t.country
    WHERE t.type IN ('purchase', 'renewal', 'refund')
)
SELECT
    t.subscription_id,
    min(t.currency) AS currency,
    min(CASE WHEN t.type IN ('purchase', 'renewal') AND t.amount > 0
        THEN t.transaction_day END) AS first_paid_day,
    CAST(CAST(sum(t.amount) AS DECIMAL(18, 2)) AS DOUBLE) AS revenue,
    CAST(CASE WHEN count(*) = count(x.to_reporting)
        THEN CAST(sum(t.amount * x.to_reporting) AS DECIMAL(18, 2)) END AS DOUBLE)
        AS revenue_reporting,
    CAST(count(*) AS BIGINT) AS transactions
FROM transactions AS t
-- rates by day (tally/models/rates.py), the day clamped into the days listed
CROSS JOIN (
    SELECT min(day) AS first_day, max(day) AS last_day FROM marts.dim_exchange_rate_day
) AS d
LEFT JOIN marts.dim_exchange_rate_day AS x
    ON x.currency = t.currency
    AND x.day = least(greatest(t.transaction_day, d.first_day), d.last_day)
GROUP BY t.subscription_id
