-- The telco report (reports/seedreports.py): each partner's own daily figures beside
-- tally's. Parameters: country, first and last day.
SELECT
    day, telco, plan_code, currency, sheet_new, tally_new, sheet_cancelled, tally_churn,
    sheet_active, tally_active, sheet_revenue, tally_revenue
FROM marts.telco_performance
WHERE country = ? AND day >= ? AND day <= ?
ORDER BY day, telco, plan_code, currency
