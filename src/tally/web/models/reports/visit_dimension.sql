-- (dimension value, visit metrics) for each value of an expression over the scoped visits
-- (web/reporting/methods.py by_visit_dimension). Filled in by report_sql: expression,
-- metrics (VISIT_METRICS), visits (the scoped visits), where.
SELECT {expression} AS dimension, {metrics}
FROM ({visits}) AS v
WHERE {where}
GROUP BY 1
ORDER BY nb_visits DESC, 1
