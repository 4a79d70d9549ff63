-- The users whose extended periods (the "extended" table, _extended_periods.sql) may differ
-- from the model's after all, so the daily build recomputes them from their whole history
-- instead (not a model: see pipeline/extension.py). Compares each extended period with the
-- stored latest period of its subscription ("tails"):
--   the period a stand-in was made for (the subscription's first) is described anew: the
--   stand-in, a period before the extension, may change, come or go;
--   a period that is new, or a latest period whose end moved, lands before the latest
--   period of another of the user's subscriptions: that subscription's periods read the
--   user's earlier ends in (start, subscription) order, so they would move too (but for
--   the one case _raised_periods.sql takes).
SELECT e.user_id
FROM extended AS e
JOIN tails AS l
    ON l.subscription_id = e.subscription_id AND l.period_start = e.period_start
WHERE l.period_start = l.first_known_start AND (
    e.continues IS DISTINCT FROM l.continues OR e.user_id IS DISTINCT FROM l.user_id
    OR e.country IS DISTINCT FROM l.country OR e.platform IS DISTINCT FROM l.platform OR e.plan_code IS DISTINCT FROM l.plan_code
    OR e.product_id IS DISTINCT FROM l.product_id OR e.channel IS DISTINCT FROM l.channel
    OR e.channel_sector IS DISTINCT FROM l.channel_sector
)
UNION
SELECT e.user_id
FROM extended AS e
LEFT JOIN tails AS l
    ON l.subscription_id = e.subscription_id AND l.period_start = e.period_start
JOIN tails AS o ON o.user_id = e.user_id AND o.subscription_id <> e.subscription_id
WHERE (l.subscription_id IS NULL OR l.period_end <> e.period_end)
    AND (e.period_start < o.period_start
        OR (e.period_start = o.period_start AND e.subscription_id < o.subscription_id))
    -- but not a latest period whose end only grew (a renewal paid in grace), before the
    -- latest period of a subscription the day leaves alone whose earlier periods all start
    -- before it: that latest period is the only one that comes after it, and only its
    -- user_prev_end can grow (_raised_periods.sql)
    AND NOT (
        l.subscription_id IS NOT NULL AND e.period_end > l.period_end
        AND o.subscription_id NOT IN (SELECT subscription_id FROM touched)
        AND coalesce(o.previous_start < e.period_start, true)
    )
