-- The loaded range of the subscription data: data_start is the first loaded day (reports
-- begin there; earlier days are only partly known), horizon the newest (a period ending
-- after it may still be renewed, so it is not churn yet).
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"):
--   whole (one row); a new horizon moves the days after the old one
-- @range all
-- @moves data_start: data_start
-- @moves horizon + 1: horizon
SELECT min(first_day) AS data_start, max(last_day) AS horizon
FROM (
    SELECT min(_partition_date) AS first_day, max(_partition_date) AS last_day
    FROM staging.viu_premium_transactions
    UNION ALL
    SELECT min(_partition_date), max(_partition_date)
    FROM staging.viu_premium_subscriber_status
) AS loaded
