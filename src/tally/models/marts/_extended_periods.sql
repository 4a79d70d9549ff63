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
        ELSE w.lag_kind END AS previous_kind,
    CASE WHEN p.period_start = l.period_start THEN l.previous_plan_code
        ELSE w.lag_plan_code END AS previous_plan_code,
    coalesce(greatest(l.earlier_max_end, w.earlier_end), p.period_start - 1) < p.period_start
        AS spell_start,
    CASE WHEN p.period_start = l.period_start THEN l.user_prev_end
        ELSE greatest(l.user_prev_end, u.earlier_end, u.untouched_end, w.user_earlier_end)
        END AS user_prev_end,
    p.source_rank, p.source_time, p.billed_end, p.paid_on, p.continues,
    hash(p.user_id) AS _user_hash,
    greatest(l.earlier_max_end, w.earlier_end) AS earlier_max_end,
    coalesce(l.first_known_start, w.first_described) AS first_known_start,
    CASE WHEN p.period_start = l.period_start THEN l.previous_start
        ELSE w.lag_start END AS previous_start,
    w.next_start IS NULL AS is_last
FROM periods AS p
-- the windows over the few columns they read, joined back by the period's key (a period is
-- one row per subscription and start): sorting every column of the rows once per window
-- cost three times as much
JOIN (
    SELECT subscription_id, period_start,
        lag(kind) OVER subscription_order AS lag_kind,
        lag(plan_code) OVER subscription_order AS lag_plan_code,
        lag(period_start) OVER subscription_order AS lag_start,
        lead(period_start) OVER subscription_order AS next_start,
        max(period_end) OVER (
            PARTITION BY subscription_id ORDER BY period_start
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS earlier_end,
        max(period_end) OVER (
            PARTITION BY user_id ORDER BY period_start, subscription_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS user_earlier_end,
        min(CASE WHEN source_rank IS NOT NULL THEN period_start END)
            OVER (PARTITION BY subscription_id) AS first_described
    FROM periods
    WINDOW subscription_order AS (PARTITION BY subscription_id ORDER BY period_start)
) AS w ON w.subscription_id = p.subscription_id AND w.period_start = p.period_start
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
