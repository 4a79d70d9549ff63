-- The sorted engine's one sort (web/sorted_sessions.py): every hit of the dirty site-days
-- with its visitor key, ordered by visitor-day and time, narrow. The rules of actions.sql
-- ("scoped", "day_users", "keyed", "gaps"' order and "timed"'s campaign) up to the point
-- where they become windows: the windows are worked out in numpy over this order (and
-- the visits' totals: visits.sql's). Keep the two alike (tests/web/test_sessions.py runs
-- every rule on both engines).
WITH scoped AS (
    SELECT
        h.hit_id,
        h.idsite,
        d.local_date,
        h.hit_time,
        h.visitor_id,
        h.user_id,
        h.kind,
        h.new_visit,
        h.user_agent,
        coalesce(h.ip_key, h.ip) AS ip,
        h.referrer_type,
        h.campaign_name,
        h.campaign_keyword,
        h.referrer_keyword,
        CASE WHEN h.kind = 'pageview' THEN CASE
            WHEN regexp_replace(regexp_replace(h.url, '#.*$', ''),
                '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*', '') IN ('', '/') THEN '/index'
            ELSE regexp_replace(regexp_replace(h.url, '#.*$', ''),
                '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*', '')
        END || CASE
            WHEN coalesce(u.keep_url_fragment, FALSE) AND strpos(h.url, '#') > 0
                AND regexp_replace(regexp_replace(h.url, '^[^#]*#', ''), '#$', '') <> ''
                THEN '#' || regexp_replace(regexp_replace(h.url, '^[^#]*#', ''), '#$', '')
            ELSE ''
        END END AS page_label,
        h.search_keyword,
        CASE
            WHEN h.referrer_type = 'website' AND u.new_visit_on_referrer_change
                THEN '=website|' || lower(coalesce(h.referrer_name, ''))
        END AS website_mark
    FROM web.hits AS h
    CROSS JOIN (VALUES (-1), (0), (1)) AS shifted (shift)
    JOIN web.dirty_days AS d
        ON d.idsite = h.idsite AND d.local_date = CAST(h.hit_time AS DATE) + shifted.shift
    LEFT JOIN web.site_url_settings AS u ON u.idsite = h.idsite
    WHERE h.hit_time >= d.utc_start AND h.hit_time < d.utc_end
        AND h.hit_time >= (SELECT min(utc_start) FROM web.dirty_days)
        AND h.hit_time < (SELECT max(utc_end) FROM web.dirty_days)
),
day_users AS (
    SELECT sc.idsite, sc.local_date, sc.visitor_id, max(sc.user_id) AS user_id
    FROM scoped AS sc
    WHERE sc.visitor_id IS NOT NULL AND sc.user_id IS NOT NULL
    GROUP BY sc.idsite, sc.local_date, sc.visitor_id
)
SELECT
    sc.hit_id,
    sc.idsite,
    sc.local_date,
    sc.hit_time,
    CASE
        WHEN coalesce(sc.user_id, du.user_id) IS NOT NULL
            THEN 'u:' || coalesce(sc.user_id, du.user_id)
        WHEN sc.visitor_id IS NOT NULL THEN 'c:' || sc.visitor_id
        ELSE 'h:' || md5(
            salt.salt || '|' || coalesce(sc.user_agent, '') || '|' || coalesce(sc.ip, '')
        )
    END AS visitor_key,
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
