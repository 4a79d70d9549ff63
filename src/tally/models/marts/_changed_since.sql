-- The first day whose marts change when the periods of some users are recomputed (not a
-- model: the incremental build runs it). Compares the stored periods of those users
-- (old_periods, a temporary table the build copies from marts.subscription_periods) with
-- the recomputed ones (changed_periods, likewise temporary), row by row on (subscription,
-- period start), and takes the earliest day an event moves:
--   start events (new, reactivation, free trial, in moves)  -> period_start
--   payment events (renewal, conversion, plan change)      -> paying_from
--   end events (churn, trial ended, out moves)             -> period_end
WITH pairs AS (
    SELECT
        CASE
            WHEN o.subscription_id IS NULL
                THEN least(n.period_start, n.paying_from, n.period_end)
            WHEN n.subscription_id IS NULL
                THEN least(o.period_start, o.paying_from, o.period_end)
            ELSE least(
                CASE WHEN o.kind <> n.kind OR o.spell_start <> n.spell_start
                    OR (o.user_prev_end IS NULL) <> (n.user_prev_end IS NULL)
                    OR o.country <> n.country OR o.platform <> n.platform
                    OR o.plan_code <> n.plan_code OR o.channel <> n.channel
                    OR o.channel_sector <> n.channel_sector
                    THEN o.period_start END,
                CASE WHEN o.paying_from <> n.paying_from
                    OR o.previous_kind IS DISTINCT FROM n.previous_kind
                    OR o.previous_plan_code IS DISTINCT FROM n.previous_plan_code
                    THEN least(o.paying_from, n.paying_from) END,
                CASE WHEN o.period_end <> n.period_end OR o.spell_end <> n.spell_end
                    THEN least(o.period_end, n.period_end) END
            )
        END AS changed_on
    FROM old_periods AS o
    FULL OUTER JOIN changed_periods AS n
        ON o.subscription_id = n.subscription_id AND o.period_start = n.period_start
)
SELECT min(changed_on) FROM pairs
