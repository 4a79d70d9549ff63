-- Trial periods: the trials (kind 'trial') and the paid periods that follow a trial without
-- a gap (kind 'paid', previous_kind 'trial'), as subscription_periods has them: the rows
-- trial_cohorts counts and joins, a twelfth of the periods (115,000 of 1.3M at 200,000
-- subscriptions). Working state of the trial cohorts' daily build: a pass over these is
-- cheaper than the two over every period it took. No report reads it.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"):
--   each row comes from one period: rebuilt from the periods that changed
-- @range each marts.subscription_periods
-- @unique subscription_id, period_start
SELECT
    subscription_id, kind, country, platform, plan_code, channel, period_start, period_end
FROM marts.subscription_periods
WHERE kind = 'trial' OR (kind = 'paid' AND previous_kind = 'trial')
