-- The analytics workbook's LTV sheet (reports/analytics.py): per monthly cohort, its size,
-- what it paid so far and its projected LTV times its size (reporting currency; empty when
-- a row lacks its rate) and the months known. Parameters: country, last day.
SELECT
    cohort_start,
    sum(cohort_size),
    CASE
        WHEN count(*) = count(revenue_to_date_reporting) THEN sum(revenue_to_date_reporting)
    END,
    CASE
        WHEN count(*) = count(projected_ltv_reporting)
            THEN sum(projected_ltv_reporting * cohort_size)
    END,
    min(known_age)
FROM marts.cohort_ltv
WHERE country = ? AND cohort_start <= ?
GROUP BY 1
ORDER BY 1
