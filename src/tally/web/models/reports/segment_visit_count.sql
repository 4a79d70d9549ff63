-- The segment dimension visitCount over v (web.visits): which visit of its visitor this
-- is (1st, 2nd, ...), as VisitorInterest counts it (web/reporting/segments.py)
(SELECT count(*) FROM web.visits AS p
    WHERE p.idsite = v.idsite AND p.visitor_key = v.visitor_key AND p.started_at <= v.started_at)
