-- Stretches of constant state of one subscription: the grain the active-subscriber stock
-- is counted at. A period gives one span of its payment status, or two when a paid period
-- began in the grace period (Grace period until it was paid, then Paying):
--   trial period          -> 'Free trial'   [period_start, period_end)
--   grace notice (unpaid) -> 'Grace period' [period_start, period_end)
--   paid period           -> 'Grace period' [period_start, paying_from), 'Paying' [paying_from, period_end)
-- Billing retry is the gap between two periods: no span, so it is never active.
-- Empty spans (a refund on the first day) are dropped: they never hold access at a day's end.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"):
--   each span comes from one period: rebuilt from the periods that changed
-- @range each marts.subscription_periods
-- @unique subscription_id, span_start
-- @moves span_start: user_id, country, platform, plan_code, channel, channel_sector, payment_status
-- @moves span_end: span_end
SELECT *
FROM (
    SELECT
        subscription_id, user_id, country, platform, plan_code, channel, channel_sector,
        CASE kind WHEN 'trial' THEN 'Free trial' WHEN 'grace' THEN 'Grace period'
            ELSE 'Grace period' END AS payment_status,
        period_start AS span_start,
        CASE kind WHEN 'paid' THEN paying_from ELSE period_end END AS span_end
    FROM marts.subscription_periods
    UNION ALL
    SELECT
        subscription_id, user_id, country, platform, plan_code, channel, channel_sector,
        'Paying' AS payment_status,
        paying_from AS span_start,
        period_end AS span_end
    FROM marts.subscription_periods
    WHERE kind = 'paid'
) AS spans
WHERE span_end > span_start
