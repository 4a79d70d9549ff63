-- Live.getCounters: visits, actions, visitors and converted visits of the last minutes
-- (web/reporting/methods.py counters). segment: the segment's WHERE.
WITH v AS (
    SELECT v.* FROM web.visits AS v
    WHERE v.idsite = ? AND v.local_date >= ? AND v.ended_at >= ?
        AND v.started_at <= ? AND ({segment})
)
SELECT
    (SELECT count(*) FROM v),
    (SELECT count(*) FROM web.actions AS a JOIN v ON v.idvisit = a.idvisit
     WHERE a.is_action AND a.hit_time >= ? AND a.hit_time <= ?),
    (SELECT count(DISTINCT visitor_key) FROM v),
    (SELECT count(*) FROM v WHERE v.conversions > 0)
