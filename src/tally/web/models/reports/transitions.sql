-- Transitions.getTransitionsForPageUrl (web/reporting/transitions.py): what came before
-- and after each view of one page, the links clicked on it and the referrers of the
-- visits it opened, as (side, category, label, count). Filled in by report_sql:
-- join and where (the actions in scope), visits (the scoped visits).
WITH views AS (
    SELECT a.visit_key, a.previous_kind, a.previous_label, a.next_kind, a.next_label
    FROM web.actions AS a {join}
    WHERE {where} AND a.kind = 'pageview' AND a.page_label = ?
),
v AS ({visits})
SELECT 'before', CASE WHEN w.previous_kind IS NULL THEN 'entry'
        WHEN w.previous_kind = 'search' THEN 'search'
        WHEN w.previous_label = ? THEN 'loop' ELSE 'page' END,
    w.previous_label, count(*)
FROM views AS w GROUP BY 1, 2, 3
UNION ALL
SELECT 'after', CASE WHEN w.next_kind IS NULL THEN 'exit'
        WHEN w.next_kind = 'search' THEN 'search'
        WHEN w.next_label = ? THEN 'loop' ELSE 'page' END,
    w.next_label, count(*)
FROM views AS w GROUP BY 1, 2, 3
UNION ALL
SELECT 'link', a.kind, a.link_url, count(*)
FROM web.actions AS a {join}
WHERE {where} AND a.kind IN ('outlink', 'download')
    AND a.previous_kind = 'pageview' AND a.previous_label = ?
GROUP BY 1, 2, 3
UNION ALL
-- a referrer's detail as Matomo names it (plugins/Transitions/API.php,
-- queryExternalReferrers): a campaign by its name and keyword (none without a keyword), a
-- website by the referrer URL of the visit's first hit, others by their name
SELECT 'referrer', coalesce(v.referrer_type, 'direct'),
    CASE WHEN v.referrer_type = 'campaign' THEN
            CASE WHEN v.campaign_keyword IS NOT NULL
                THEN lower(v.campaign_name) || ' ' || v.campaign_keyword END
        WHEN v.referrer_type = 'website' THEN h.urlref
        ELSE v.referrer_name END,
    count(*)
FROM views AS w JOIN v ON v.visit_key = w.visit_key
LEFT JOIN web.hits AS h ON h.hit_id = v.first_hit_id AND v.referrer_type = 'website'
WHERE w.previous_kind IS NULL GROUP BY 1, 2, 3
