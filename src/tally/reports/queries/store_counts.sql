-- (period start, {key}, count) of a store's mart for one country and period
-- (reports/stores.py). Filled in: table (the mart, in marts), key (Apple's event or
-- Google's type column). Parameters: country, period, first and last period start.
SELECT start_date, {key}, sum(value)
FROM marts.{table}
WHERE country = ? AND resolution_type = ? AND start_date >= ? AND start_date <= ?
GROUP BY 1, 2
