-- The yellow report (reports/seedreports.py): web visitors, with a video view, and the
-- same for Yahoo lead-ins, per period. Parameters: country, resolution, first and last
-- period start.
SELECT
    start_date, period_end, complete, web_uv, web_uv_with_vv, yahoo_leadin_uv,
    yahoo_leadin_uv_with_vv
FROM marts.yellow_report
WHERE country = ? AND resolution_type = ? AND start_date >= ? AND start_date <= ?
ORDER BY start_date
