-- Ecommerce product views (web/reporting/ecommerce.py product_views): each product page
-- view (setEcommerceView) of the query's visits, as (visit, visitor key, the hit's
-- ecommerce JSON). Filled in by report_sql: visits (the scoped visits).
SELECT v.idvisit, v.visitor_key, h.ecommerce
FROM ({visits}) AS v
JOIN web.actions AS a ON a.idvisit = v.idvisit AND a.kind = 'pageview'
JOIN web.hits AS h ON h.hit_id = a.hit_id
WHERE h.ecommerce IS NOT NULL
