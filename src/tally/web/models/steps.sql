-- Each action's place in its visit, for the dirty site-days, as an UPDATE of actions already
-- written: sessionize no longer runs it (actions.sql computes these columns as it inserts,
-- each row written once); the benches that write web.actions directly in SQL do. The rules
-- are the same as actions.sql's "placed" and "counted" (tests/web/test_sessions.py checks
-- the two give every column the same value). Reports
-- join and aggregate narrow stored columns instead of numbering hits at query time:
-- an integer visit key, running counts of interactions (page views and site searches) and
-- page views, a page view's report label and the next page view's, a page view's time on
-- page (Matomo's rule, below), and whether a view is the visit's first of its page. A page
-- label is the URL's path and query ('' or '/': /index), and, on a site that keeps URL
-- fragments (Matomo's keep_url_fragment; the loader dropped them elsewhere), '#' and the
-- fragment without one trailing '#' (plugins/Actions/ArchivingHelper.php,
-- parseNameFromPageUrl). The label rule is also in
-- tally.web.reporting.transitions.label_of (for a pageUrl asked about): keep the two alike.
UPDATE web.actions
SET
    visit_key = s.visit_key,
    interaction = s.interaction,
    pageview_number = s.pageview_number,
    page_label = s.page_label,
    next_page_label = s.next_page_label,
    time_spent = s.time_spent,
    previous_kind = s.previous_kind,
    previous_label = s.previous_label,
    next_kind = s.next_kind,
    next_label = s.next_label,
    first_view_of_page = s.first_view_of_page
FROM (
    WITH scoped AS (
        SELECT a.hit_id, a.idsite, a.local_date, a.idvisit, a.position, a.kind, a.hit_time, a.url,
            a.search_keyword,
            CASE WHEN coalesce(u.keep_url_fragment, FALSE) AND strpos(a.url, '#') > 0
                THEN regexp_replace(regexp_replace(a.url, '^[^#]*#', ''), '#$', '')
                ELSE '' END AS fragment
        FROM web.actions AS a
        JOIN web.dirty_days AS d ON d.idsite = a.idsite AND d.local_date = a.local_date
        LEFT JOIN web.site_url_settings AS u ON u.idsite = a.idsite
        WHERE a.idvisit IS NOT NULL
    ),
    placed AS (
        SELECT
            sc.hit_id,
            sc.idsite,
            sc.local_date,
            sc.idvisit,
            sc.position,
            sc.kind,
            sc.search_keyword,
            (CAST(sc.idsite AS BIGINT) * 100000 + (sc.local_date - DATE '1970-01-01'))
                * 10000000
                + dense_rank() OVER (PARTITION BY sc.idsite, sc.local_date ORDER BY sc.idvisit)
                AS visit_key,
            CAST(sum(CASE WHEN sc.kind IN ('pageview', 'search') THEN 1 ELSE 0 END) OVER (
                PARTITION BY sc.idvisit ORDER BY sc.position
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
            ) AS INTEGER) AS interaction,
            CAST(sum(CASE WHEN sc.kind = 'pageview' THEN 1 ELSE 0 END) OVER (
                PARTITION BY sc.idvisit ORDER BY sc.position
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
            ) AS INTEGER) AS pageview_number,
            CASE WHEN sc.kind = 'pageview' THEN CASE
                WHEN regexp_replace(regexp_replace(sc.url, '#.*$', ''),
                    '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*', '') IN ('', '/') THEN '/index'
                ELSE regexp_replace(regexp_replace(sc.url, '#.*$', ''),
                    '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*', '')
            END || CASE WHEN sc.fragment <> '' THEN '#' || sc.fragment ELSE '' END
            END AS page_label,
            date_diff(
                'second',
                lag(sc.hit_time) OVER (PARTITION BY sc.idvisit ORDER BY sc.position),
                sc.hit_time
            ) AS gap
        FROM scoped AS sc
    ),
    -- Time on page, Matomo's rule (core/Tracker/Visit.php getTimeSpentReferrerAction, summed
    -- per idaction_url_ref / idaction_name_ref by the Actions archiver): each action after a
    -- page view or site search, up to and including the next one, credits it with its time
    -- since the previous request; a goal, order or cart request is no action (its time is
    -- credited to nothing), but the next action's time counts from it. Pings count as
    -- actions here, so time on the last page counts when heartbeats were on.
    page_times AS (
        SELECT
            pl.idvisit,
            CASE WHEN pl.kind IN ('pageview', 'search') THEN pl.interaction - 1
                ELSE pl.interaction END AS credited_page,
            sum(pl.gap) AS time_spent
        FROM placed AS pl
        WHERE pl.gap IS NOT NULL AND pl.kind NOT IN ('goal', 'order', 'cart')
        GROUP BY 1, 2
    ),
    following AS (
        SELECT
            p.hit_id,
            lead(p.page_label) OVER (PARTITION BY p.idvisit ORDER BY p.position)
                AS next_page_label,
            row_number() OVER (PARTITION BY p.idvisit, p.page_label ORDER BY p.position) = 1
                AS first_view_of_page
        FROM placed AS p
        WHERE p.kind = 'pageview'
    ),
    -- The number of a page view or search counts itself; any other hit carries the number
    -- of the interaction before it.
    interactions AS (
        SELECT
            p.visit_key,
            p.interaction,
            p.kind,
            CASE WHEN p.kind = 'pageview' THEN p.page_label ELSE p.search_keyword END AS label
        FROM placed AS p
        WHERE p.kind IN ('pageview', 'search')
    )
    SELECT
        p.*,
        CASE WHEN p.kind IN ('pageview', 'search') THEN coalesce(t.time_spent, 0) END
            AS time_spent,
        f.next_page_label,
        f.first_view_of_page,
        b.kind AS previous_kind,
        b.label AS previous_label,
        n.kind AS next_kind,
        n.label AS next_label
    FROM placed AS p
    LEFT JOIN following AS f ON f.hit_id = p.hit_id
    LEFT JOIN page_times AS t
        ON t.idvisit = p.idvisit AND t.credited_page = p.interaction
        AND p.kind IN ('pageview', 'search')
    LEFT JOIN interactions AS b
        ON b.visit_key = p.visit_key
        AND b.interaction = CASE
            WHEN p.kind IN ('pageview', 'search') THEN p.interaction - 1 ELSE p.interaction
        END
    LEFT JOIN interactions AS n
        ON n.visit_key = p.visit_key AND n.interaction = p.interaction + 1
) AS s
-- the site-day as well as the hit: DuckDB then reads only the dirty days' row groups of
-- web.actions to find the rows to change, not the whole table
WHERE s.hit_id = web.actions.hit_id
    AND s.idsite = web.actions.idsite AND s.local_date = web.actions.local_date;
