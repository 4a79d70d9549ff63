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

{insert_actions}
WITH {scoped_hits},
keyed AS (
    -- Cookieless hits: a hash of the day's secret salt, the user agent and the IP key (the
    -- loader's salted hash of the full IP; the anonymised IP for hits stored before it).
    SELECT
        sc.hit_id,
        sc.idsite,
        sc.local_date,
        sc.hit_time,
        sc.kind,
        sc.new_visit,
        sc.referrer_type,
        sc.campaign_name,
        sc.campaign_keyword,
        sc.referrer_keyword,
        sc.website_mark,
        sc.page_label,
        sc.search_keyword,
        {visitor_key} AS visitor_key
    FROM scoped AS sc
    LEFT JOIN day_users AS du
        ON du.idsite = sc.idsite AND du.local_date = sc.local_date
        AND du.visitor_id = sc.visitor_id
    JOIN web.visitor_salts AS salt ON salt.salt_date = sc.local_date
),
visitor_days AS (
    -- An integer per visitor and day: every later window partitions and orders on integers
    -- (vd, seq), much cheaper to sort than the text key, the time and the hit id.
    SELECT
        k.idsite,
        k.local_date,
        k.visitor_key,
        row_number() OVER () AS vd
    FROM (SELECT DISTINCT idsite, local_date, visitor_key FROM keyed) AS k
),
gaps AS (
    SELECT
        v.vd,
        row_number() OVER (PARTITION BY v.vd ORDER BY k.hit_time, k.hit_id) AS seq,
        k.hit_id,
        k.idsite,
        k.local_date,
        k.visitor_key,
        k.hit_time,
        k.kind,
        k.new_visit,
        k.referrer_type,
        k.campaign_name,
        k.campaign_keyword,
        k.referrer_keyword,
        k.website_mark,
        k.page_label,
        k.search_keyword,
        date_diff(
            'second',
            lag(k.hit_time) OVER (PARTITION BY v.vd ORDER BY k.hit_time, k.hit_id),
            k.hit_time
        ) AS seconds_since_previous
    FROM keyed AS k
    JOIN visitor_days AS v
        ON v.idsite = k.idsite AND v.local_date = k.local_date AND v.visitor_key = k.visitor_key
),
idle AS (
    -- The rules below only need, at each hit, the last non-ping hit before it and the last
    -- "idle" ping up to it (a ping with nothing before it that day, or 30 idle minutes
    -- before it); from here on only narrow rows travel through the windows.
    SELECT
        g.vd,
        g.seq,
        g.hit_time,
        g.kind,
        g.new_visit,
        g.referrer_type,
        g.campaign_name,
        g.campaign_keyword,
        g.referrer_keyword,
        g.website_mark,
        g.seconds_since_previous,
        max(
            CASE
                WHEN g.kind = 'ping'
                    AND (g.seconds_since_previous IS NULL OR g.seconds_since_previous > 1800)
                    THEN g.seq
            END
        ) OVER (
            PARTITION BY g.vd ORDER BY g.seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS idle_ping,
        coalesce(max(CASE WHEN g.kind <> 'ping' THEN g.seq END) OVER (
            PARTITION BY g.vd ORDER BY g.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ), 0) AS previous_hit,
        -- the visitor-day's interactions (page views and site searches) and page views
        -- before this hit, counted in this sort: a hit's counts in its visit are these less
        -- those before the visit's first hit (see "counted"), with no sort of their own
        coalesce(sum(CASE WHEN g.kind IN ('pageview', 'search') THEN 1 ELSE 0 END) OVER (
            PARTITION BY g.vd ORDER BY g.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ), 0) AS interactions_before,
        coalesce(sum(CASE WHEN g.kind = 'pageview' THEN 1 ELSE 0 END) OVER (
            PARTITION BY g.vd ORDER BY g.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ), 0) AS pageviews_before
    FROM gaps AS g
),
timed AS (
    -- A ping is ignored (orphan) when it would open a visit: an idle ping since the last
    -- non-ping hit (every later ping of that run is then ignored too, as each is even further
    -- from the last accepted hit). A hit that is not a ping opens a visit (time_break) when
    -- it is the visitor's first of the day, comes more than 30 minutes after the last
    -- accepted hit, or carries new_visit=1. The last accepted hit is the hit before it
    -- unless an idle ping came since the last non-ping hit: then it lies before that ping,
    -- more than 30 minutes back (or there is none), and the hit opens a visit.
    SELECT
        i.*,
        CASE
            WHEN i.kind = 'ping' AND coalesce(i.idle_ping, 0) > i.previous_hit THEN 1
            ELSE 0
        END AS orphan,
        CASE
            WHEN i.kind = 'ping' THEN 0
            WHEN i.seconds_since_previous IS NULL THEN 1
            WHEN coalesce(i.idle_ping, 0) > i.previous_hit THEN 1
            WHEN i.seconds_since_previous > 1800 THEN 1
            WHEN i.new_visit THEN 1
            ELSE 0
        END AS time_break,
        CASE
            WHEN i.campaign_name IS NOT NULL
                THEN lower(i.campaign_name) || '|'
                    || lower(coalesce(i.campaign_keyword, i.referrer_keyword, ''))
        END AS campaign
    FROM idle AS i
),
segmented AS (
    SELECT
        t.*,
        sum(t.time_break) OVER (
            PARTITION BY t.vd
            ORDER BY t.seq
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
        sg.vd,
        sg.seq,
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
        sg.segment
    FROM segmented AS sg
),
named AS (
    SELECT
        m.*,
        lag(m.campaign_name) OVER (PARTITION BY m.vd, m.segment ORDER BY m.seq) AS previous_name
    FROM marked AS m
    WHERE m.mark IS NOT NULL
),
marks AS (
    SELECT
        n.vd,
        n.seq,
        n.mark,
        lag(n.mark) OVER (PARTITION BY n.vd, n.segment ORDER BY n.seq) AS previous_mark
    FROM named AS n
    WHERE NOT (n.keywordless AND n.campaign_name = coalesce(n.previous_name, ''))
),
broken AS (
    SELECT
        sg.vd,
        sg.seq,
        sg.orphan,
        sg.interactions_before,
        sg.pageviews_before,
        CASE
            WHEN sg.time_break = 1 THEN 1
            WHEN mk.previous_mark IS NOT NULL
                AND (mk.previous_mark <> '=direct' OR mk.mark LIKE '=website|%')
                AND mk.mark <> mk.previous_mark THEN 1
            ELSE 0
        END AS visit_break
    FROM segmented AS sg
    LEFT JOIN marks AS mk ON mk.vd = sg.vd AND mk.seq = sg.seq
),
visited AS (
    -- A visit starts at a break and holds the accepted hits up to the next break: the last
    -- break so far is the visit's first hit (it is never an ignored ping, except in a "visit"
    -- of ignored pings only), and a hit's position is its distance from it (ignored pings
    -- only ever come after a visit's accepted hits: the next hit that is no ping breaks).
    SELECT
        b.vd,
        b.seq,
        b.orphan,
        b.interactions_before,
        b.pageviews_before,
        max(CASE WHEN b.visit_break = 1 THEN b.seq END) OVER visitor_day AS first_seq,
        -- the counts before the last break (they never fall as seq grows)
        max(CASE WHEN b.visit_break = 1 THEN b.interactions_before END) OVER visitor_day
            AS visit_interactions_before,
        max(CASE WHEN b.visit_break = 1 THEN b.pageviews_before END) OVER visitor_day
            AS visit_pageviews_before
    FROM broken AS b
    WINDOW visitor_day AS (
        PARTITION BY b.vd ORDER BY b.seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
),
placed AS (
    -- Each placed hit with its visit named by integers (vd, first_seq: the visitor-day and
    -- the seq of the visit's first hit; orphan pings apart), narrow: the stored hit's columns
    -- are joined at the end.
    -- Each action's place in its visit is computed here, in the same statement, so each row
    -- is written once (an UPDATE after the insert rewrote eleven columns of every row):
    -- an integer visit key, running counts of interactions (page views and site searches)
    -- and page views, a page view's report label and the next page view's, a page view's
    -- time on page (Matomo's rule, below), and whether a view is the visit's first of its
    -- page. A page label is the URL's path and query ('' or '/': /index), and, on a site
    -- that keeps URL fragments (Matomo's keep_url_fragment; the loader dropped them
    -- elsewhere), '#' and the fragment without one trailing '#' (plugins/Actions/
    -- ArchivingHelper.php, parseNameFromPageUrl). The label rule is also in
    -- tally.web.reporting.transitions.label_of (for a pageUrl asked about) and in steps.sql
    -- (for actions written without sessionize, by the benches): keep the three alike.
    SELECT
        g.hit_id,
        g.idsite,
        g.local_date,
        v.vd,
        v.seq,
        v.first_seq,
        v.orphan,
        g.visitor_key,
        CASE WHEN v.orphan = 0 THEN CAST(v.seq - v.first_seq + 1 AS INTEGER) END AS position,
        g.hit_time,
        g.kind,
        g.seconds_since_previous,
        g.page_label,
        g.search_keyword,
        v.interactions_before - v.visit_interactions_before AS interactions_in_visit_before,
        v.pageviews_before - v.visit_pageviews_before AS pageviews_in_visit_before
    FROM visited AS v
    JOIN gaps AS g ON g.vd = v.vd AND g.seq = v.seq
),
counted AS (
    -- A visit is (vd, first_seq) among placed hits (orphan = 0): the rows of one idvisit.
    -- Its hits are consecutive in seq, and ignored pings only ever follow its accepted
    -- hits, so a placed hit's running counts are those before it in the visit plus itself,
    -- and its gap to the visit's previous hit is its gap to the visitor-day's previous one
    -- (none for the visit's first): no window here. (An orphan's counts are never used.)
    SELECT
        p.*,
        CAST(p.interactions_in_visit_before
            + CASE WHEN p.kind IN ('pageview', 'search') THEN 1 ELSE 0 END AS INTEGER)
            AS interaction,
        CAST(p.pageviews_in_visit_before
            + CASE WHEN p.kind = 'pageview' THEN 1 ELSE 0 END AS INTEGER) AS pageview_number,
        CASE WHEN p.seq <> p.first_seq THEN p.seconds_since_previous END AS gap
    FROM placed AS p
),
visit_ranks AS (
    -- A visit's idvisit is the md5 of its first hit's id, and its integer key ranks the
    -- idvisits of the site-day: both worked out on one row per visit (its first hit), so
    -- the hashing and the text sort are of the visits, not of every hit.
    SELECT
        w.vd,
        w.first_seq,
        w.idvisit,
        (CAST(w.idsite AS BIGINT) * 100000 + (w.local_date - DATE '1970-01-01'))
            * 10000000
            + row_number() OVER (PARTITION BY w.idsite, w.local_date ORDER BY w.idvisit)
            AS visit_key
    FROM (
        SELECT
            c.vd,
            c.first_seq,
            c.idsite,
            c.local_date,
            md5(CAST(c.idsite AS VARCHAR) || '|' || c.hit_id) AS idvisit
        FROM counted AS c
        WHERE c.orphan = 0 AND c.seq = c.first_seq
    ) AS w
),
-- Time on page, Matomo's rule (core/Tracker/Visit.php getTimeSpentReferrerAction, summed
-- per idaction_url_ref / idaction_name_ref by the Actions archiver): each action after a
-- page view or site search, up to and including the next one, credits it with its time
-- since the previous request; a goal, order or cart request is no action (its time is
-- credited to nothing), but the next action's time counts from it. Pings count as
-- actions here, so time on the last page counts when heartbeats were on.
page_times AS (
    SELECT
        c.vd,
        c.first_seq,
        CASE WHEN c.kind IN ('pageview', 'search') THEN c.interaction - 1
            ELSE c.interaction END AS credited_page,
        sum(c.gap) AS time_spent
    FROM counted AS c
    WHERE c.orphan = 0 AND c.gap IS NOT NULL AND c.kind NOT IN ('goal', 'order', 'cart')
    GROUP BY 1, 2, 3
),
page_views AS (
    -- The visit's page views by their number in it (unique in the visit).
    SELECT c.vd, c.first_seq, c.pageview_number, c.page_label
    FROM counted AS c
    WHERE c.orphan = 0 AND c.kind = 'pageview'
),
first_views AS (
    -- The number of the visit's first view of each label: the only view of that number
    -- is that label's first, so a view is a first when its number is one of these.
    SELECT p.vd, p.first_seq, min(p.pageview_number) AS pageview_number
    FROM page_views AS p
    GROUP BY p.vd, p.first_seq, p.page_label
),
interactions AS (
    -- The visit's page views and searches (interactions) alone, each with the ones before
    -- and after it, the next page view's label, whether it is the visit's first view of its
    -- page, and its time: this window sorts the interactions, not every hit (orphans are
    -- pings, never interactions). The next page view is the one numbered one more, and a
    -- first view's number is among first_views: joins on integers, not two more sorts.
    SELECT
        hit.vd,
        hit.first_seq,
        hit.interaction,
        hit.kind,
        hit.label,
        lag(hit.kind) OVER visit AS previous_kind,
        lag(hit.label) OVER visit AS previous_label,
        lead(hit.kind) OVER visit AS next_kind,
        lead(hit.label) OVER visit AS next_label,
        CASE WHEN hit.kind = 'pageview' THEN following.page_label END AS next_page_label,
        CASE WHEN hit.kind = 'pageview' THEN first_view.pageview_number IS NOT NULL END
            AS first_view_of_page,
        coalesce(t.time_spent, 0) AS time_spent
    FROM (
        SELECT
            c.vd,
            c.first_seq,
            c.seq,
            c.interaction,
            c.pageview_number,
            c.kind,
            CASE WHEN c.kind = 'pageview' THEN c.page_label ELSE c.search_keyword END
                AS label
        FROM counted AS c
        WHERE c.orphan = 0 AND c.kind IN ('pageview', 'search')
    ) AS hit
    LEFT JOIN page_times AS t
        ON t.vd = hit.vd AND t.first_seq = hit.first_seq AND t.credited_page = hit.interaction
    -- (a search meets the page view after it here: the CASEs above leave it out)
    LEFT JOIN page_views AS following
        ON following.vd = hit.vd AND following.first_seq = hit.first_seq
        AND following.pageview_number = hit.pageview_number + 1
    LEFT JOIN first_views AS first_view
        ON first_view.vd = hit.vd AND first_view.first_seq = hit.first_seq
        AND first_view.pageview_number = hit.pageview_number
    WINDOW visit AS (PARTITION BY hit.vd, hit.first_seq ORDER BY hit.seq)
)
SELECT
{hit_columns}
    -- an orphan ping is in no visit: no place in one
    r.visit_key,
    CASE WHEN c.orphan = 0 THEN c.interaction END,
    CASE WHEN c.orphan = 0 THEN c.pageview_number END,
    c.page_label,
    CASE WHEN c.kind = 'pageview' THEN i.next_page_label END,
    CASE WHEN c.orphan = 0 AND c.kind IN ('pageview', 'search') THEN i.time_spent END,
    -- the interaction before a hit: for an interaction, the one before it; for any other
    -- hit, the last one so far (none before the visit's first)
    CASE
        WHEN c.interaction = 0 THEN NULL
        WHEN c.kind IN ('pageview', 'search') THEN i.previous_kind
        ELSE i.kind
    END,
    CASE
        WHEN c.interaction = 0 THEN NULL
        WHEN c.kind IN ('pageview', 'search') THEN i.previous_label
        ELSE i.label
    END,
    -- the interaction after a hit: the one after the last so far (the visit's first, for a
    -- hit before any)
    CASE WHEN c.interaction = 0 THEN i.kind ELSE i.next_kind END,
    CASE WHEN c.interaction = 0 THEN i.label ELSE i.next_label END,
    CASE WHEN c.kind = 'pageview' THEN i.first_view_of_page END
FROM counted AS c
-- the equal hit_time (always so) lets DuckDB skip row groups of web.hits outside the
-- dirty days' times: a day's run reads that day's hits, not all of them
JOIN web.hits AS h ON h.hit_id = c.hit_id AND h.hit_time = c.hit_time
JOIN web.sites AS s ON s.idsite = c.idsite
LEFT JOIN visit_ranks AS r
    ON c.orphan = 0 AND r.vd = c.vd AND r.first_seq = c.first_seq
-- each hit meets one interaction of its visit: the last so far (the first, for a hit
-- before any); an interaction meets itself
LEFT JOIN interactions AS i
    ON c.orphan = 0 AND i.vd = c.vd AND i.first_seq = c.first_seq
    AND i.interaction = CASE WHEN c.interaction = 0 THEN 1 ELSE c.interaction END;
