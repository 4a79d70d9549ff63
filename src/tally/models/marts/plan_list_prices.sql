-- Plan list prices: per platform, plan code and country, the price the plan was billed at
-- on the latest day it was billed (the highest if several were; its currency and billed
-- length likewise), from the purchases and renewals with an amount (staging's latest
-- copies). subscription_list_prices gives it to the MRR periods no billed transaction
-- prices (grace-period notices, status-export periods, stand-ins).
--   amount, currency, billed_days   the price, its currency, the days it pays for
-- The billed rows are read twice, not kept between the reads: the second read asks only for
-- the rows near each plan's latest start, and DuckDB skips the row groups whose starts are
-- all older than every plan's (the join's bounds reach the scan; a CTE read by both is
-- kept whole): 0.15 -> 0.05 s of CPU at 200,000 subscriptions, 0.20 -> 0.05 in the daily
-- build.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): rebuilt whole (a
-- few rows; one pass over the billed transactions, one over the newest), only changed rows
-- replaced:
-- @range all
-- @unique platform, plan_code, country
WITH latest AS (
    SELECT platform, plan_code, country, max(period_start) AS latest
    FROM staging.viu_premium_transactions_latest
    WHERE type IN ('purchase', 'renewal') AND amount > 0
    GROUP BY platform, plan_code, country
),
-- the latest day's rows (a day is at most a day and a bit before the latest start)
latest_day AS (
    SELECT b.platform, b.plan_code, b.country, b.amount, b.currency,
        CAST(b.period_start AT TIME ZONE z.timezone AS DATE) AS start_date,
        CAST(b.period_end AT TIME ZONE z.timezone AS DATE) AS end_date,
        CAST(l.latest AT TIME ZONE z.timezone AS DATE) AS latest_date
    FROM staging.viu_premium_transactions_latest AS b
    JOIN latest AS l
        ON l.platform = b.platform AND l.plan_code = b.plan_code AND l.country = b.country
        AND b.period_start > l.latest - INTERVAL 2 DAY
    JOIN marts.dim_country AS z ON z.code = b.country
    WHERE b.type IN ('purchase', 'renewal') AND b.amount > 0
)
SELECT
    platform, plan_code, country, CAST(max(amount) AS DOUBLE) AS amount,
    min(currency) AS currency, CAST(max(end_date - start_date) AS INTEGER) AS billed_days
FROM latest_day
WHERE start_date = latest_date
GROUP BY platform, plan_code, country
