-- The windows of subscription_periods.sql for periods extended from a day's rows (not a
-- model: the daily build's fast path appends it to the model's own CTEs, see
-- pipeline/extension.py). "periods" holds, for each touched subscription, its latest stored
-- period (as the row that described it) and the periods the day's rows describe, all from
-- that latest one on; "tails" holds the stored latest periods (marts.subscription_last_periods).
-- Each window is the model's, with what it would have read before the latest period taken
-- from the stored row:
--   previous_kind, previous_plan_code   the latest period keeps its stored ones
--   spell_start                         the subscription's earlier ends: earlier_max_end
--   user_prev_end                       the user's earlier ends: the latest period keeps
--                                       its own; a later one adds the ends since: the
--                                       earlier periods of the user's other subscriptions,
--                                       the latest ones of those the day leaves alone, and
--                                       the extended periods of all the user's touched
--                                       subscriptions that come before it (in the model's
--                                       order: start, then subscription)
-- and the columns marts.subscription_last_periods adds, for the row that is now the latest.
SELECT
    p.subscription_id, p.user_id, p.country, p.platform, p.plan_code, p.product_id, p.channel,
    p.channel_sector, p.kind, p.period_start, p.period_end, p.refunded_on,
    CASE WHEN p.kind = 'paid' THEN least(greatest(p.paid_on, p.period_start), p.period_end)
        ELSE p.period_start END AS paying_from,
    CASE WHEN p.period_start = l.period_start THEN l.previous_kind
        ELSE lag(p.kind) OVER subscription_order END AS previous_kind,
    CASE WHEN p.period_start = l.period_start THEN l.previous_plan_code
        ELSE lag(p.plan_code) OVER subscription_order END AS previous_plan_code,
    coalesce(greatest(l.earlier_max_end, max(p.period_end) OVER (
        PARTITION BY p.subscription_id ORDER BY p.period_start
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    )), p.period_start - 1) < p.period_start AS spell_start,
    coalesce(lead(p.period_start) OVER subscription_order, p.period_end + 1) > p.period_end
        AS spell_end,
    CASE WHEN p.period_start = l.period_start THEN l.user_prev_end
        ELSE greatest(l.user_prev_end, u.earlier_end, u.untouched_end, max(p.period_end) OVER (
            PARTITION BY p.user_id ORDER BY p.period_start, p.subscription_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        )) END AS user_prev_end,
    p.source_rank, p.source_time, p.billed_end, p.paid_on, p.continues,
    greatest(l.earlier_max_end, max(p.period_end) OVER (
        PARTITION BY p.subscription_id ORDER BY p.period_start
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    )) AS earlier_max_end,
    coalesce(l.first_known_start, min(CASE WHEN p.source_rank IS NOT NULL THEN p.period_start END)
        OVER (PARTITION BY p.subscription_id)) AS first_known_start,
    CASE WHEN p.period_start = l.period_start THEN l.previous_start
        ELSE lag(p.period_start) OVER subscription_order END AS previous_start,
    row_number() OVER (PARTITION BY p.subscription_id ORDER BY p.period_start DESC) = 1
        AS is_last
FROM periods AS p
LEFT JOIN tails AS l ON l.subscription_id = p.subscription_id
-- the stored ends of the user's other subscriptions, whose latest periods all lie before
-- the new periods (_unextended_users.sql sends the users where they do not to be
-- recomputed): their earlier periods, and the latest periods of those not touched (a
-- touched one's latest period may have a new end: it is in "periods" with it)
LEFT JOIN (
    SELECT k.subscription_id, max(o.earlier_max_end) AS earlier_end,
        max(CASE WHEN t.subscription_id IS NULL THEN o.period_end END) AS untouched_end
    FROM (SELECT DISTINCT user_id, subscription_id FROM new_keys) AS k
    JOIN tails AS o ON o.user_id = k.user_id AND o.subscription_id <> k.subscription_id
    LEFT JOIN touched AS t ON t.subscription_id = o.subscription_id
    GROUP BY k.subscription_id
) AS u ON u.subscription_id = p.subscription_id
WINDOW subscription_order AS (PARTITION BY p.subscription_id ORDER BY p.period_start)
