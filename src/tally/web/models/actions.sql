-- Place every hit of the dirty site-days (web.dirty_days) in a visit, as Matomo does:
-- a hit opens a new visit when it is the visitor's first of the site's day, comes more than
-- 30 minutes (1800 s) after the visitor's previous hit, carries new_visit=1, or brings a
-- campaign other than the one of the visit it would join (a direct visit takes the campaign
-- instead: see "marked" below). Pings never open a visit.
DELETE FROM web.actions
WHERE EXISTS (
    SELECT 1 FROM web.dirty_days AS d
    WHERE d.idsite = web.actions.idsite AND d.local_date = web.actions.local_date
);

INSERT INTO web.actions (
    hit_id, idsite, local_date, idvisit, visitor_key, position, hit_time, local_time, kind,
    is_action, url, action_name, link_url, event_category, event_action, event_name,
    event_value, search_keyword, idgoal, revenue, pv_id, seconds_since_previous
)
WITH scoped AS (
    -- The UTC bounds make this a range scan of web.hits, not a time zone cast of every hit.
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
        -- with the site's new_visit_on_referrer_change, a hit from another website is a
        -- mark too (below)
        CASE
            WHEN h.referrer_type = 'website' AND u.new_visit_on_referrer_change
                THEN '=website|' || lower(coalesce(h.referrer_name, ''))
        END AS website_mark
    FROM web.hits AS h
    JOIN web.dirty_days AS d
        ON d.idsite = h.idsite AND h.hit_time >= d.utc_start AND h.hit_time < d.utc_end
    LEFT JOIN web.site_url_settings AS u ON u.idsite = h.idsite
),
day_users AS (
    -- uid ties a visitor: hits of a cookie that logged in that day belong to the user.
    SELECT
        sc.*,
        CASE
            WHEN sc.visitor_id IS NULL THEN sc.user_id
            ELSE coalesce(
                sc.user_id,
                max(sc.user_id) OVER (PARTITION BY sc.idsite, sc.local_date, sc.visitor_id)
            )
        END AS day_user_id
    FROM scoped AS sc
),
keyed AS (
    -- Cookieless hits: a hash of the day's secret salt, the user agent and the IP key (the
    -- loader's salted hash of the full IP; the anonymised IP for hits stored before it).
    SELECT
        du.*,
        CASE
            WHEN du.day_user_id IS NOT NULL THEN 'u:' || du.day_user_id
            WHEN du.visitor_id IS NOT NULL THEN 'c:' || du.visitor_id
            ELSE 'h:' || md5(
                salt.salt || '|' || coalesce(du.user_agent, '') || '|' || coalesce(du.ip, '')
            )
        END AS visitor_key
    FROM day_users AS du
    JOIN web.visitor_salts AS salt ON salt.salt_date = du.local_date
),
gaps AS (
    SELECT
        k.*,
        date_diff(
            'second',
            lag(k.hit_time) OVER (
                PARTITION BY k.idsite, k.local_date, k.visitor_key ORDER BY k.hit_time, k.hit_id
            ),
            k.hit_time
        ) AS seconds_since_previous,
        -- run: how many non-ping hits so far; a run is one hit and the pings after it
        sum(CASE WHEN k.kind = 'ping' THEN 0 ELSE 1 END) OVER (
            PARTITION BY k.idsite, k.local_date, k.visitor_key
            ORDER BY k.hit_time, k.hit_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS run
    FROM keyed AS k
),
orphaned AS (
    -- A ping is ignored (orphan) when it would open a visit: nothing before it that day, or
    -- 30 idle minutes before it. Every later ping of the same run is then ignored too, as
    -- each is even further from the last accepted hit.
    SELECT
        g.*,
        CASE
            WHEN g.kind = 'ping' AND max(
                CASE
                    WHEN g.kind = 'ping'
                        AND (g.seconds_since_previous IS NULL OR g.seconds_since_previous > 1800)
                        THEN 1
                    ELSE 0
                END
            ) OVER (
                PARTITION BY g.idsite, g.local_date, g.visitor_key, g.run
                ORDER BY g.hit_time, g.hit_id
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
            ) = 1 THEN 1
            ELSE 0
        END AS orphan
    FROM gaps AS g
),
accepted AS (
    SELECT
        o.*,
        max(CASE WHEN o.orphan = 0 THEN o.hit_time END) OVER (
            PARTITION BY o.idsite, o.local_date, o.visitor_key
            ORDER BY o.hit_time, o.hit_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS last_accepted_time
    FROM orphaned AS o
),
timed AS (
    SELECT
        a.*,
        CASE
            WHEN a.kind = 'ping' THEN 0
            WHEN a.last_accepted_time IS NULL THEN 1
            WHEN date_diff('second', a.last_accepted_time, a.hit_time) > 1800 THEN 1
            WHEN a.new_visit THEN 1
            ELSE 0
        END AS time_break,
        CASE
            WHEN a.campaign_name IS NOT NULL
                THEN lower(a.campaign_name) || '|'
                    || lower(coalesce(a.campaign_keyword, a.referrer_keyword, ''))
        END AS campaign
    FROM accepted AS a
),
segmented AS (
    SELECT
        t.*,
        sum(t.time_break) OVER (
            PARTITION BY t.idsite, t.local_date, t.visitor_key
            ORDER BY t.hit_time, t.hit_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS segment
    FROM timed AS t
),
marked AS (
    -- Matomo's campaign rules (plugins/Referrers/Columns/Campaign.php and Base.php,
    -- detectReferrerCampaign): a hit bringing a campaign other than the visit's opens a new
    -- visit, except in a visit that came in directly, which takes the campaign instead. A
    -- campaign hit whose URL and referrer gave no keyword keeps the visit's keyword when
    -- the visit is a campaign of the same name; otherwise its keyword is the referrer's
    -- host (the loader's referrer_keyword). With the site's new_visit_on_referrer_change
    -- (Matomo's create_new_visit_when_website_referrer_changes, Referrers/Columns/
    -- Website.php), a hit from a website other than the visit's referrer opens a new
    -- visit, a direct one included.
    -- A "mark" is the segment's first hit (its campaign, website mark, '=direct' or
    -- '=other') or a later hit bringing a campaign (or a website mark); keyword-less marks
    -- repeating the previous mark's name change nothing and are dropped; a kept mark
    -- differing from the previous kept one breaks the visit unless that one was '=direct'
    -- and this one a campaign.
    SELECT
        sg.hit_id,
        CASE
            WHEN sg.time_break = 1 THEN coalesce(
                sg.campaign,
                sg.website_mark,
                CASE WHEN sg.referrer_type = 'direct' THEN '=direct' ELSE '=other' END
            )
            ELSE coalesce(sg.campaign, sg.website_mark)
        END AS mark,
        lower(sg.campaign_name) AS campaign_name,
        sg.campaign_name IS NOT NULL AND coalesce(sg.campaign_keyword, '') = '' AS keywordless,
        sg.idsite,
        sg.local_date,
        sg.visitor_key,
        sg.segment,
        sg.hit_time
    FROM segmented AS sg
),
named AS (
    SELECT
        m.*,
        lag(m.campaign_name) OVER (
            PARTITION BY m.idsite, m.local_date, m.visitor_key, m.segment
            ORDER BY m.hit_time, m.hit_id
        ) AS previous_name
    FROM marked AS m
    WHERE m.mark IS NOT NULL
),
marks AS (
    SELECT
        n.hit_id,
        n.mark,
        lag(n.mark) OVER (
            PARTITION BY n.idsite, n.local_date, n.visitor_key, n.segment
            ORDER BY n.hit_time, n.hit_id
        ) AS previous_mark
    FROM named AS n
    WHERE NOT (n.keywordless AND n.campaign_name = coalesce(n.previous_name, ''))
),
broken AS (
    SELECT
        sg.*,
        CASE
            WHEN sg.time_break = 1 THEN 1
            WHEN mk.previous_mark IS NOT NULL
                AND (mk.previous_mark <> '=direct' OR mk.mark LIKE '=website|%')
                AND mk.mark <> mk.previous_mark THEN 1
            ELSE 0
        END AS visit_break
    FROM segmented AS sg
    LEFT JOIN marks AS mk ON mk.hit_id = sg.hit_id
),
numbered AS (
    SELECT
        b.*,
        sum(b.visit_break) OVER (
            PARTITION BY b.idsite, b.local_date, b.visitor_key
            ORDER BY b.hit_time, b.hit_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS visit_number
    FROM broken AS b
),
visited AS (
    SELECT
        n.*,
        CASE
            WHEN n.orphan = 0 THEN first_value(n.hit_id) OVER (
                PARTITION BY n.idsite, n.local_date, n.visitor_key, n.visit_number, n.orphan
                ORDER BY n.hit_time, n.hit_id
            )
        END AS first_hit_id
    FROM numbered AS n
)
SELECT
    v.hit_id,
    v.idsite,
    v.local_date,
    CASE
        WHEN v.first_hit_id IS NOT NULL
            THEN md5(CAST(v.idsite AS VARCHAR) || '|' || v.first_hit_id)
    END,
    v.visitor_key,
    CASE
        WHEN v.first_hit_id IS NOT NULL THEN CAST(
            row_number() OVER (PARTITION BY v.first_hit_id ORDER BY v.hit_time, v.hit_id)
            AS INTEGER
        )
    END,
    v.hit_time,
    CAST((v.hit_time AT TIME ZONE 'UTC') AT TIME ZONE s.timezone AS TIMESTAMP),
    v.kind,
    v.kind IN ('pageview', 'outlink', 'download', 'event', 'search'),
    h.url,
    h.action_name,
    h.link_url,
    h.event_category,
    h.event_action,
    h.event_name,
    h.event_value,
    h.search_keyword,
    h.idgoal,
    h.revenue,
    h.pv_id,
    v.seconds_since_previous
FROM visited AS v
JOIN web.hits AS h ON h.hit_id = v.hit_id
JOIN web.sites AS s ON s.idsite = v.idsite;
