-- Subscription list prices: the price of each access period no billed transaction
-- prices, the plan's list price in its country (plan_list_prices): grace-period notices,
-- periods the status export alone describes (source_rank 3: periods begun before the
-- first loaded day, ...) and stand-ins (source_rank NULL). subscription_mrr reads it by
-- user, so a new list price reaches the users it prices (this table's changed rows name
-- them). One row per such period with a list price.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): by user (the
-- user's periods), only changed rows replaced; a changed list price reaches the periods of
-- every user, so on a day plan_list_prices changed (seldom) it is rebuilt whole, one pass
-- over the periods (at 1M subscriptions, busy: 0.29-0.38 CPU s, as it was every day; the
-- day's users' periods, from what the daily build already read of them: 0.01):
-- @range key user_id
-- @unique subscription_id, period_start
-- @reads marts.subscription_periods WHERE user_id IN {keys}
-- @every marts.plan_list_prices
SELECT
    p.user_id, p.subscription_id, p.period_start, l.amount, l.currency, l.billed_days
FROM marts.subscription_periods AS p
JOIN marts.plan_list_prices AS l
    ON l.platform = p.platform AND l.plan_code = p.plan_code AND l.country = p.country
WHERE p.kind IN ('paid', 'grace') AND p.period_end > p.period_start
    AND (p.kind = 'grace' OR p.source_rank IS DISTINCT FROM 1)
