-- Visit metrics grouped by expressions over the scoped visits and their first hit
-- (web/reporting/visit_groups.py). Filled in by report_sql: keys (the expressions and
-- aggregates as d0, d1, ...), metrics (VISIT_METRICS), visits (the scoped visits), where,
-- positions (the grouped keys' positions).
SELECT {keys}, {metrics}
FROM ({visits}) AS v
LEFT JOIN web.hits AS h ON h.hit_id = v.first_hit_id
WHERE {where}
GROUP BY {positions}
ORDER BY nb_visits DESC, {positions}
