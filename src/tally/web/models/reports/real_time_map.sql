-- UserCountryMap.getRealTimeVisits (web/reporting/live.py): visits of the last minutes by
-- country and city, with their mean coordinates and last action. Filled in by report_sql:
-- segment (the segment's condition). Parameters: site, the first local day that can hold
-- such a visit, since, now, then the segment's own.
SELECT
    upper(v.country), h.city, count(*), coalesce(sum(v.actions), 0), avg(h.latitude),
    avg(h.longitude), max(v.ended_at)
FROM web.visits AS v
LEFT JOIN web.hits AS h ON h.hit_id = v.first_hit_id
WHERE v.idsite = ? AND v.local_date >= ? AND v.ended_at >= ? AND v.started_at <= ?
    AND ({segment})
GROUP BY 1, 2
ORDER BY 3 DESC, 1, 2
