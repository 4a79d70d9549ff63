-- The subscription dashboard's LTV panel (server/ui/subscription_analytics.py): per monthly
-- cohort, the subscriptions, what they paid so far and their projected LTV times the
-- cohort's size, both in the reporting currency and empty when a row lacks its rate. Not a
-- model (the leading underscore): read by warehouse.sqlfiles.sql_file with the fragment
-- dims (the AND of the country, platform and acquisition channel filters, or nothing).
-- Parameters: the newest cohort, then the filters' own.
SELECT
    cohort_start,
    sum(cohort_size),
    CASE
        WHEN count(*) = count(revenue_to_date_reporting) THEN sum(revenue_to_date_reporting)
    END,
    CASE
        WHEN count(*) = count(projected_ltv_reporting)
            THEN sum(projected_ltv_reporting * cohort_size)
    END
FROM marts.cohort_ltv
WHERE cohort_start <= ?{dims}
GROUP BY 1
ORDER BY 1
