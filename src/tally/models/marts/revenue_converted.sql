-- Revenue converted: revenue_daily's money in its own currency and in the reporting
-- currency (setting marts.reporting_currency) at the day's rate, from
-- marts.dim_exchange_rate_day (tally/models/rates.py: the exchange-rate sheet's newest quote
-- on or before the day; the reporting currency converts at 1; one row per day, the day
-- clamped into the days it lists).
--   to_reporting      reporting-currency units per unit of `currency` on `day` (NULL: no
--                     rate known for that day; the converted columns are then NULL, never
--                     a guess, and every sum over them says so by being NULL)
--   *_reporting       the amount times to_reporting, rounded to cents
-- One row per revenue_daily row: day, country, platform, plan, channel, sector, currency.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): by day, from
-- revenue_daily's rows of those days:
-- @range day day
-- @reads marts.revenue_daily WHERE day >= {since}
SELECT
    r.day, r.country, r.platform, r.plan_code, r.channel, r.channel_sector, r.currency,
    r.customer_price, r.proceeds, r.refunded, r.refunded_partial,
    (SELECT max(reporting_currency) FROM marts.dim_exchange_rate) AS reporting_currency,
    x.to_reporting,
    CAST(CAST(r.customer_price * x.to_reporting AS DECIMAL(18, 2)) AS DOUBLE)
        AS customer_price_reporting,
    CAST(CAST(r.proceeds * x.to_reporting AS DECIMAL(18, 2)) AS DOUBLE) AS proceeds_reporting,
    CAST(CAST(r.refunded * x.to_reporting AS DECIMAL(18, 2)) AS DOUBLE) AS refunded_reporting
FROM marts.revenue_daily AS r
CROSS JOIN (
    SELECT min(day) AS first_day, max(day) AS last_day FROM marts.dim_exchange_rate_day
) AS d
LEFT JOIN marts.dim_exchange_rate_day AS x
    ON x.currency = r.currency AND x.day = least(greatest(r.day, d.first_day), d.last_day)
