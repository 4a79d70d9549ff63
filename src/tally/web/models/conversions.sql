-- Goal conversions of the dirty site-days. A hit converts a goal when:
--   * it is trackGoal(idgoal) for that goal (any goal can be converted by hand), or
--   * the goal matches page URLs (titles) and it is a page view whose URL (title) matches, or
--   * the goal matches an event's category, action or name and it is such an event.
-- Matching is 'exact', 'contains' or 'regex', case-insensitive unless the goal says so.
-- A goal converts once per visit (the first matching hit) unless it allows several.
-- Ecommerce, with Matomo's goal ids (core/Tracker/GoalManager.php): an order is idgoal 0,
-- counted once per order id of the site, across days (a repeated order id is ignored); a visit's
-- last cart update is an abandoned cart, idgoal -1, unless an order came after it.
DELETE FROM web.conversions
WHERE EXISTS (
    SELECT 1 FROM web.dirty_days AS d
    WHERE d.idsite = web.conversions.idsite AND d.local_date = web.conversions.local_date
);

INSERT INTO web.conversions (idsite, local_date, idvisit, idgoal, hit_id, converted_at, revenue)
WITH candidates AS (
    SELECT
        a.idsite,
        a.local_date,
        a.idvisit,
        a.hit_id,
        a.hit_time,
        a.kind,
        a.idgoal AS hit_goal,
        a.revenue AS hit_revenue,
        g.idgoal,
        g.match_attribute,
        g.pattern_type,
        g.pattern,
        g.case_sensitive,
        g.allow_multiple,
        g.revenue AS goal_revenue,
        CASE WHEN g.case_sensitive THEN g.pattern ELSE '(?i)' || g.pattern END AS regex,
        CASE
            -- the URL as sent, with the fragment the loader kept apart (Matomo matches the
            -- raw URL: core/Tracker/GoalManager.php, detectGoalMatch)
            WHEN g.match_attribute = 'url' AND a.kind = 'pageview' THEN a.url
                || CASE WHEN a.url_fragment IS NOT NULL THEN '#' || a.url_fragment ELSE '' END
            WHEN g.match_attribute = 'title' AND a.kind = 'pageview' THEN a.action_name
            WHEN g.match_attribute = 'event_category' AND a.kind = 'event' THEN a.event_category
            WHEN g.match_attribute = 'event_action' AND a.kind = 'event' THEN a.event_action
            WHEN g.match_attribute = 'event_name' AND a.kind = 'event' THEN a.event_name
        END AS subject
    FROM web.actions AS a
    JOIN web.dirty_days AS d ON d.idsite = a.idsite AND d.local_date = a.local_date
    JOIN web.goals AS g ON g.idsite = a.idsite
    WHERE a.idvisit IS NOT NULL
),
matched AS (
    SELECT c.*
    FROM candidates AS c
    WHERE (c.kind = 'goal' AND c.hit_goal = c.idgoal)
        OR (
            c.subject IS NOT NULL
            AND CASE
                WHEN c.pattern_type = 'exact' AND c.case_sensitive THEN c.subject = c.pattern
                WHEN c.pattern_type = 'exact' THEN lower(c.subject) = lower(c.pattern)
                WHEN c.pattern_type = 'contains' AND c.case_sensitive
                    THEN strpos(c.subject, c.pattern) > 0
                WHEN c.pattern_type = 'contains'
                    THEN strpos(lower(c.subject), lower(c.pattern)) > 0
                WHEN c.pattern_type = 'regex' THEN regexp_matches(c.subject, c.regex)
                ELSE FALSE
            END
        )
),
ranked AS (
    SELECT
        m.*,
        row_number() OVER (
            PARTITION BY m.idvisit, m.idgoal ORDER BY m.hit_time, m.hit_id
        ) AS nth
    FROM matched AS m
),
ecommerce AS (
    SELECT
        a.idsite,
        a.local_date,
        a.idvisit,
        a.hit_id,
        a.hit_time,
        a.kind,
        a.revenue,
        h.order_id,
        row_number() OVER (
            PARTITION BY a.idvisit, a.kind ORDER BY a.hit_time DESC, a.hit_id DESC
        ) AS from_last,
        max(CASE WHEN a.kind = 'order' THEN a.hit_time END) OVER (PARTITION BY a.idvisit)
            AS last_order
    FROM web.actions AS a
    JOIN web.dirty_days AS d ON d.idsite = a.idsite AND d.local_date = a.local_date
    JOIN web.hits AS h ON h.hit_id = a.hit_id AND h.hit_time = a.hit_time
    WHERE a.idvisit IS NOT NULL AND a.kind IN ('order', 'cart')
),
orders AS (
    SELECT e.*, row_number() OVER (
        PARTITION BY e.idsite, e.order_id ORDER BY e.hit_time, e.hit_id
    ) AS nth_order
    FROM ecommerce AS e
    WHERE e.kind = 'order'
)
SELECT
    r.idsite,
    r.local_date,
    r.idvisit,
    r.idgoal,
    r.hit_id,
    r.hit_time,
    CASE WHEN r.kind = 'goal' AND r.hit_revenue IS NOT NULL THEN r.hit_revenue ELSE r.goal_revenue END
FROM ranked AS r
WHERE r.allow_multiple OR r.nth = 1
UNION ALL
SELECT o.idsite, o.local_date, o.idvisit, 0, o.hit_id, o.hit_time, coalesce(o.revenue, 0)
FROM orders AS o
WHERE o.nth_order = 1
    -- an order id counts once per site, ever: Matomo refuses a repeated one (log_conversion
    -- is unique on idsite and idorder), so an earlier day's order wins
    AND NOT EXISTS (
        SELECT 1 FROM web.conversions AS earlier
        JOIN web.hits AS first ON first.hit_id = earlier.hit_id
        WHERE earlier.idsite = o.idsite AND earlier.idgoal = 0
            AND first.order_id = o.order_id AND earlier.converted_at < o.hit_time
    )
UNION ALL
SELECT e.idsite, e.local_date, e.idvisit, -1, e.hit_id, e.hit_time, coalesce(e.revenue, 0)
FROM ecommerce AS e
WHERE e.kind = 'cart' AND e.from_last = 1
    AND (e.last_order IS NULL OR e.last_order < e.hit_time);
