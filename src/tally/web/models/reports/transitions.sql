-- Transitions.getTransitionsForPageUrl (web/reporting/transitions.py): what came before
-- and after each view of one page, the links clicked on it and the referrers of the
-- visits it opened, as (side, category, label, count). Filled in by report_sql:
-- join and where (the actions in scope), visits (the scoped visits).
WITH views AS (
    SELECT a.visit_key, a.previous_kind, a.previous_label, a.next_kind, a.next_label
    FROM web.actions AS a {join}
    WHERE {where} AND a.kind = 'pageview' AND a.page_label = ?
),
v AS ({visits}),
-- the visits this page opened
entries AS (
    SELECT v.referrer_type, v.referrer_name, v.campaign_name, v.campaign_keyword,
        v.first_hit_id, v.started_at, v.ended_at
    FROM views AS w JOIN v ON v.visit_key = w.visit_key
    WHERE w.previous_kind IS NULL
),
website_entries AS (
    SELECT first_hit_id, started_at, ended_at FROM entries WHERE referrer_type = 'website'
),
-- the referrer URL of the first hit of each entry from a website: looked up by id among
-- the hits of those visits' times only (a join with every hit read the whole table)
referrer_urls AS (
    SELECT h.hit_id, h.urlref FROM web.hits AS h
    WHERE h.hit_id IN (SELECT first_hit_id FROM website_entries)
        AND h.hit_time BETWEEN (SELECT min(started_at) FROM website_entries)
            AND (SELECT max(ended_at) FROM website_entries)
)
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
SELECT 'referrer', coalesce(e.referrer_type, 'direct'),
    CASE WHEN e.referrer_type = 'campaign' THEN
            CASE WHEN e.campaign_keyword IS NOT NULL
                THEN lower(e.campaign_name) || ' ' || e.campaign_keyword END
        WHEN e.referrer_type = 'website' THEN r.urlref
        ELSE e.referrer_name END,
    count(*)
FROM entries AS e
LEFT JOIN referrer_urls AS r ON r.hit_id = e.first_hit_id AND e.referrer_type = 'website'
GROUP BY 1, 2, 3
