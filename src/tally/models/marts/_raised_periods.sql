-- The latest periods of subscriptions the day left alone whose user_prev_end grows, as rows
-- for the "extended" table (not a model: the daily build runs it after
-- _unextended_users.sql, see pipeline/extension.py). When the end of another of the
-- user's latest periods grows (a renewal paid in grace) and that period comes before this
-- one, whose own earlier periods all start before it, the end of the user's access before
-- this period is the greater of what it was and the grown end: nothing else before it
-- changed, and a maximum with one value raised is the greater of the two. Only that column
-- changes (and never from NULL), so no mart moves; the stored period is replaced all the
-- same. The build writes the select list's first part: the periods' columns, that one
-- raised.
SELECT {columns}, o.earlier_max_end, o.first_known_start, o.previous_start, true AS is_last
FROM tails AS o
JOIN (
    SELECT o.subscription_id, max(e.period_end) AS grown_end
    FROM extended AS e
    JOIN tails AS l ON l.subscription_id = e.subscription_id AND l.period_start = e.period_start
    JOIN tails AS o ON o.user_id = e.user_id AND o.subscription_id <> e.subscription_id
    WHERE e.period_end > l.period_end
        AND (e.period_start < o.period_start
            OR (e.period_start = o.period_start AND e.subscription_id < o.subscription_id))
        AND o.subscription_id NOT IN (SELECT subscription_id FROM touched)
    GROUP BY o.subscription_id
) AS g ON g.subscription_id = o.subscription_id
WHERE o.user_id NOT IN (SELECT user_id FROM recomputed_users)
