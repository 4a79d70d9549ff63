-- The periods that moved when the periods of some users are recomputed, and the first day
-- their marts change (not a model: the incremental build runs it). Pairs the stored periods
-- of those users (old_periods, a temporary table the build copies from
-- marts.subscription_periods) with the recomputed ones (changed_periods, likewise
-- temporary) on (subscription, period start), which is unique (one period per subscription
-- and start day; the stand-in period starts before the first), and keeps the pairs where
-- a period went, came or differs in any column (the build writes that column by column
-- test into the WHERE clause). changed_on is the earliest day an event of the pair moves
-- (NULL when only a column no event reads changed):
--   start events (new, reactivation, free trial, in moves)  -> period_start
--   payment events (renewal, conversion, plan change)      -> paying_from
--   end events (churn, trial ended, out moves)             -> period_end
SELECT
    coalesce(o.subscription_id, n.subscription_id) AS subscription_id,
    coalesce(o.period_start, n.period_start) AS period_start,
    o.paying_from AS old_paying_from, n.paying_from AS new_paying_from,
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
WHERE o.subscription_id IS NULL OR n.subscription_id IS NULL OR {differs}
