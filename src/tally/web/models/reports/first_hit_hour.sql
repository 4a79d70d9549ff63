-- A visit's starting hour on the site's clock, as an expression over v (web.visits)
-- (web/reporting/visit_time.py)
(SELECT CAST(extract(hour FROM a.local_time) AS INTEGER) FROM web.actions AS a
    WHERE a.hit_id = v.first_hit_id)
