-- The hits of the dirty site-days and the users their cookies logged in as that day:
-- the first two steps of actions.sql, shared with the sorted engine's sort
-- (sorted_hits.sql), so that the rules they hold are written once.
scoped AS (
    -- A hit's local day is its UTC date or the day before or after (no offset reaches a
    -- day), so each hit meets at most three dirty days by an equality join on the date and
    -- keeps the one whose UTC bounds hold it: no time zone cast of every hit, and no join of
    -- every hit with every dirty day of its site (a year is 365 of them). The outer bounds
    -- keep one day's run to a range scan of web.hits.
    -- Only the columns the rules need travel through the windows (the rest is joined at
    -- the end): sorting narrow rows is several times faster than sorting whole hits.
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
        -- a page view's report label, here where the URL is at hand (actions.sql's "placed")
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
        -- with the site's new_visit_on_referrer_change, a hit from another website is a
        -- mark too (actions.sql's "marked")
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
    -- uid ties a visitor: hits of a cookie that logged in that day belong to the user
    -- (the cookie's greatest uid of the day, for its hits without one).
    SELECT sc.idsite, sc.local_date, sc.visitor_id, max(sc.user_id) AS user_id
    FROM scoped AS sc
    WHERE sc.visitor_id IS NOT NULL AND sc.user_id IS NOT NULL
    GROUP BY sc.idsite, sc.local_date, sc.visitor_id
)
