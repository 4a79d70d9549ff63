-- Live.getLastVisitsDetails (web/reporting/live.py): the chosen visits, newest first, with
-- their first hit's device and place and their goal, order and abandoned-cart counts
-- (goals apart from orders, idgoal 0, and abandoned carts, -1, as Matomo counts
-- goalConversions). Filled in by report_sql: chosen (the log's visits).
WITH chosen AS ({chosen})
SELECT
    v.idvisit, v.local_date, v.visitor_id, v.user_id, v.visitor_key, v.started_at,
    v.ended_at, v.duration_seconds, v.actions, v.pageviews, v.searches, v.referrer_type,
    v.referrer_name, v.referrer_keyword, v.campaign_name, v.campaign_keyword, v.device_type,
    h.device_brand, h.device_model, v.os_name, v.browser_name, v.country, h.region, h.city,
    h.latitude, h.longitude, h.local_hour, v.conversions, v.revenue, v.provider,
    (SELECT count(*) FROM web.conversions AS c WHERE c.idvisit = v.idvisit AND c.idgoal > 0)
        AS goal_count,
    (SELECT count(*) FROM web.conversions AS c WHERE c.idvisit = v.idvisit AND c.idgoal = 0)
        AS order_count,
    (SELECT count(*) FROM web.conversions AS c WHERE c.idvisit = v.idvisit AND c.idgoal = -1)
        AS cart_count
FROM chosen AS v
LEFT JOIN web.hits AS h ON h.hit_id = v.first_hit_id
ORDER BY v.started_at DESC, v.idvisit
