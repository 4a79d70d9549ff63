-- The sorted engine's one sort (web/sorted_sessions.py): every hit of the dirty site-days
-- with its visitor key, ordered by visitor-day and time, narrow. The rules of actions.sql
-- ("scoped", "day_users", "keyed", "gaps"' order and "timed"'s campaign) up to the point
-- where they become windows: the windows are worked out in numpy over this order (and
-- the visits' totals: visits.sql's). Keep the two alike (tests/web/test_sessions.py runs
-- every rule on both engines).
WITH {scoped_hits}
SELECT
    sc.hit_id,
    sc.idsite,
    sc.local_date,
    sc.hit_time,
    {visitor_key} AS visitor_key,
    sc.kind,
    coalesce(sc.new_visit, FALSE) AS new_visit,
    coalesce(sc.referrer_type = 'direct', FALSE) AS direct,
    CASE
        WHEN sc.campaign_name IS NOT NULL
            THEN lower(sc.campaign_name) || '|'
                || lower(coalesce(sc.campaign_keyword, sc.referrer_keyword, ''))
    END AS campaign,
    sc.website_mark,
    lower(sc.campaign_name) AS campaign_name,
    sc.campaign_name IS NOT NULL AND coalesce(sc.campaign_keyword, '') = '' AS keywordless,
    sc.page_label,
    sc.search_keyword,
    -- for the visit's row (sorted_visits.sql)
    sc.visitor_id,
    sc.user_id,
    coalesce(sc.referrer_type = 'campaign', FALSE) AS campaign_referrer
FROM scoped AS sc
LEFT JOIN day_users AS du
    ON du.idsite = sc.idsite AND du.local_date = sc.local_date
    AND du.visitor_id = sc.visitor_id
JOIN web.visitor_salts AS salt ON salt.salt_date = sc.local_date
ORDER BY sc.idsite, sc.local_date, visitor_key, sc.hit_time, sc.hit_id
