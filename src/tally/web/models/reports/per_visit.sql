-- (value, visits) of an expression over the scoped visits
-- (web/reporting/visitor_interest.py). Filled in by report_sql: expression, visits.
SELECT {expression}, count(*)
FROM ({visits}) AS v
GROUP BY 1
