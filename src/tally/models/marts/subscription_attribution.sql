-- Subscription attribution: each new subscription (its first period, trial or paid, from
-- the first loaded day) tied to the web/app visits that led to it, under two models, in
-- one row: the first touch's columns (first_*) and the last touch's (last_*). One row per
-- subscription, not one per model: the subscription's own columns were written twice
-- (at 1M subscriptions writing the 2M rows took 2.7-3.0 CPU s, the 1M wider rows 1.6-1.7).
-- A subscriber's visits are found two ways (linked_by):
--   'user id'     visits whose Matomo User ID (uid, setUserId) is the subscriber's user id
--                 in the subscription exports
--   'visitor id'  failing that, visits without a User ID by a visitor (the first-party id
--                 the tracker keeps, _id) that the site passed with the user id at sign-up,
--                 i.e. seen in a visit with that User ID: the anonymous visits before it
-- A visit counts when its day (the site's time zone) is from `attribution_window_days`
-- (setting marts.attribution_window_days, default 30, carried in marts.dim_country) before
-- the subscription's start day to that day itself (the sign-up visit).
--   First touch (first_*)  the earliest such visit
--   Last touch (last_*)    the latest one that is not a direct entry (the latest direct
--                          one when all are direct), as analytics tools attribute by default
-- Per model: channel, Matomo's referrer type ('Campaigns', 'Search Engines', 'Websites',
-- 'Social Networks', 'Direct Entry') or '(no linked visit)'; campaign, the campaign name
-- (lower-cased, as Matomo keeps it) for campaigns; source, the referrer's name; idsite,
-- touch_day, touch_visit (the visit's site, day and id) and linked_by. touches: the visits
-- in the window (both models').
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): by user (a user's
-- subscriptions' first periods and visits); the first loaded day is read from the loads
-- (as subscription_bounds has it), so its rebuild needs no day range. A visit sessionized
-- for a day before the newest one (a late hit), or a User ID that links a visitor only
-- after the subscription started, reaches a subscription already built on the next full
-- build, as a revised exchange rate does (docs/metrics.md). Of the periods it reads the ones
-- opening a spell, which include every first period `firsts` looks at (a sixth of a user's
-- periods to fetch). A subscription's row reads its first period alone, so only a changed
-- first period (either version) names a user to rebuild, and the loads, read for their
-- first day alone (no new partition comes before it), none: at 1M subscriptions ~1,200
-- users a day, not the ~12,900 with any changed period:
-- @range key user_id
-- @unique subscription_id
-- @reads marts.subscription_periods WHERE user_id IN {keys} AND spell_start
-- @reads web.visits WHERE user_id IN {keys} OR (user_id IS NULL AND (idsite, visitor_id) IN (SELECT idsite, visitor_id FROM web.visits WHERE user_id IN {keys}))
-- @reaches marts.subscription_periods WHERE previous_kind IS NULL
-- @reaches staging.viu_premium_transactions WHERE false
-- @reaches staging.viu_premium_subscriber_status WHERE false
-- @moves start_day: *
WITH bounds AS (
    SELECT min(first_day) AS data_start
    FROM (
        SELECT min(_partition_date) AS first_day FROM staging.viu_premium_transactions
        UNION ALL
        SELECT min(_partition_date) FROM staging.viu_premium_subscriber_status
    ) AS loaded
),
-- a subscription's first period: the one with no period before it (previous_kind, the kind
-- of the one before, is NULL only there: a kind is never NULL). Ranking each
-- subscription's periods instead stored and grouped them (~1 CPU s at 1M subscriptions)
firsts AS (
    SELECT subscription_id, user_id, country, platform, plan_code, channel, kind,
        period_start, source_rank
    FROM marts.subscription_periods
    WHERE previous_kind IS NULL
),
acquired AS (
    SELECT f.subscription_id, f.user_id, f.country, f.platform, f.plan_code,
        f.channel AS billing_channel, f.kind AS first_kind, f.period_start AS start_day,
        z.attribution_window_days
    FROM firsts AS f
    CROSS JOIN bounds AS b
    JOIN marts.dim_country AS z ON z.code = f.country
    -- a stand-in (source_rank NULL) or an earlier start: begun before the first loaded day
    WHERE f.source_rank IS NOT NULL AND f.period_start >= b.data_start
),
linked_visitors AS (
    SELECT DISTINCT user_id, idsite, visitor_id
    FROM web.visits
    WHERE user_id IS NOT NULL AND visitor_id IS NOT NULL
),
user_visits AS (
    SELECT v.user_id AS linked_user, 'user id' AS linked_by, v.idvisit, v.idsite,
        v.local_date, v.started_at, v.referrer_type, v.referrer_name, v.campaign_name
    FROM web.visits AS v
    WHERE v.user_id IS NOT NULL
    UNION ALL
    SELECT l.user_id, 'visitor id', v.idvisit, v.idsite, v.local_date, v.started_at,
        v.referrer_type, v.referrer_name, v.campaign_name
    FROM web.visits AS v
    JOIN linked_visitors AS l ON l.idsite = v.idsite AND l.visitor_id = v.visitor_id
    WHERE v.user_id IS NULL
),
touches AS (
    SELECT a.subscription_id, u.idvisit, u.idsite, u.local_date, u.started_at,
        coalesce(u.referrer_type, 'direct') AS referrer_type, u.referrer_name,
        lower(u.campaign_name) AS campaign, u.linked_by
    FROM acquired AS a
    JOIN user_visits AS u
        ON u.linked_user = a.user_id AND u.local_date <= a.start_day
        AND u.local_date >= a.start_day - CAST(a.attribution_window_days AS INTEGER)
),
counted AS (
    SELECT subscription_id, count(*) AS touches FROM touches GROUP BY subscription_id
),
ranked AS (
    SELECT t.*,
        row_number() OVER (
            PARTITION BY t.subscription_id ORDER BY t.started_at, t.idvisit
        ) AS first_rank,
        row_number() OVER (
            PARTITION BY t.subscription_id
            ORDER BY CASE WHEN t.referrer_type = 'direct' THEN 1 ELSE 0 END,
                t.started_at DESC, t.idvisit DESC
        ) AS last_rank
    FROM touches AS t
),
-- the two chosen visits (a visit may be both), named
chosen AS (
    SELECT subscription_id, first_rank, last_rank, idvisit, idsite, local_date,
        CASE referrer_type
            WHEN 'campaign' THEN 'Campaigns'
            WHEN 'search' THEN 'Search Engines'
            WHEN 'website' THEN 'Websites'
            WHEN 'social' THEN 'Social Networks'
            WHEN 'direct' THEN 'Direct Entry'
            ELSE referrer_type
        END AS channel,
        CASE WHEN referrer_type = 'campaign' THEN campaign END AS campaign,
        referrer_name AS source, linked_by
    FROM ranked
    WHERE first_rank = 1 OR last_rank = 1
)
SELECT
    a.subscription_id, a.user_id, a.country, a.platform, a.plan_code, a.billing_channel,
    a.first_kind, a.start_day,
    f.idsite AS first_idsite, coalesce(f.channel, '(no linked visit)') AS first_channel,
    f.campaign AS first_campaign, f.source AS first_source, f.local_date AS first_touch_day,
    f.idvisit AS first_touch_visit, f.linked_by AS first_linked_by,
    l.idsite AS last_idsite, coalesce(l.channel, '(no linked visit)') AS last_channel,
    l.campaign AS last_campaign, l.source AS last_source, l.local_date AS last_touch_day,
    l.idvisit AS last_touch_visit, l.linked_by AS last_linked_by,
    CAST(coalesce(n.touches, 0) AS BIGINT) AS touches
FROM acquired AS a
LEFT JOIN chosen AS f ON f.subscription_id = a.subscription_id AND f.first_rank = 1
LEFT JOIN chosen AS l ON l.subscription_id = a.subscription_id AND l.last_rank = 1
LEFT JOIN counted AS n ON n.subscription_id = a.subscription_id
