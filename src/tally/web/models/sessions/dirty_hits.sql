-- A cluster scope (web/sessions.py CLUSTER_SCOPES): the hits (t, web.hits) within the
-- dirty days' UTC span, and the hits of orders of any day (an order id counts once per
-- site, ever).
(
    t.hit_time >= (SELECT min(utc_start) FROM web.dirty_days)
    AND t.hit_time < (SELECT max(utc_end) FROM web.dirty_days)
)
OR t.hit_id IN (SELECT hit_id FROM web.conversions WHERE idgoal = 0)
