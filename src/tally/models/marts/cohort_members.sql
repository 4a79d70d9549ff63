-- Cohort members: one row per subscription with an MRR period, as the cohort marts
-- (cohort_retention, cohort_ltv) group it, read once for both:
--   first_day          the start of its first MRR period (subscription_mrr's first_start):
--                      the day it joined its cohort
--   segment_id         that first period's segment (subscription_mrr's number for its
--                      country, platform, plan, channel, sector and currency; named in
--                      marts.dim_segment, which its readers join)
--   mrr, mrr_reporting its MRR on the first day (in currency / in the reporting currency,
--                      NULL without a rate)
--   acquisition_channel  the web/app channel that brought it: its first touch
--                      (subscription_attribution: 'Campaigns', 'Search Engines',
--                      'Websites', 'Social Networks', 'Direct Entry'), 'unattributed' when
--                      no visit is linked to it
-- Every first day is kept (the cohort marts keep the first loaded day to the newest).
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): by subscription;
-- a member that came, went or changed moves the cohort marts from its first day (its
-- anniversaries are all on or after it). Of the MRR periods it reads the first of each
-- subscription, all it looks at (a sixth of the keys' periods to fetch), so only a changed
-- first period (either version) names a subscription to rebuild (at 1M subscriptions
-- ~2,600 a day with the attributions', not ~12,900):
-- @range key subscription_id
-- @unique subscription_id
-- @reads marts.subscription_mrr WHERE subscription_id IN {keys} AND period_start = first_start
-- @reads marts.subscription_attribution WHERE subscription_id IN {keys}
-- @reaches marts.subscription_mrr WHERE period_start = first_start
-- @moves first_day: *
SELECT
    m.subscription_id, m.segment_id,
    coalesce(a.first_channel, 'unattributed') AS acquisition_channel,
    m.period_start AS first_day, m.mrr, m.mrr_reporting
FROM marts.subscription_mrr AS m
LEFT JOIN marts.subscription_attribution AS a
    ON a.subscription_id = m.subscription_id AND a.first_channel <> '(no linked visit)'
WHERE m.period_start = m.first_start
