-- Cohort retention: the classic triangle. A cohort is the subscriptions whose first paid
-- (MRR) period began in one month (cohort_resolution 'monthly': age in months) or one ISO
-- week ('weekly': age in weeks, up to 12), per country, platform, first paid plan, billing
-- channel, currency and acquisition channel. A subscription's age-k anniversary is its
-- first paid day plus k months (a 31 Jan start has 28 Feb) or k weeks.
--   acquisition_channel  the web/app channel that brought the subscription: its first
--                   touch (subscription_attribution: 'Campaigns', 'Search Engines',
--                   'Websites', 'Social Networks', 'Direct Entry'), 'unattributed' when no
--                   visit is linked to it
--   cohort_size     subscriptions in the cohort
--   eligible        those whose age-k anniversary is on or before the newest loaded day (the
--                   others are not known yet: a cell of a young cohort counts only them)
--   retained        eligible subscriptions with paid access (an MRR period: paid or grace,
--                   not a trial, not billing retry) on their anniversary
--   mrr_start       the eligible subscriptions' MRR on their first paid day
--   mrr_retained    their MRR on the anniversary (expansion and contraction included)
--   *_reporting     the same in the reporting currency (NULL where a rate is missing)
-- Subscriber retention = retained / eligible; revenue (net MRR) retention = mrr_retained /
-- mrr_start. Cohorts from the first loaded day on (an earlier first payment is only partly
-- known). Read by the dashboard's heat map and the workbook's Cohorts sheet. Money is added
-- up as decimals (6 places): a sum never depends on the order its rows are read in.
--   anniversary_start  the first day of the month (monthly) or week (weekly) the cell's
--                   anniversaries fall in: cohort_start plus age months or weeks
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): by the anniversary's
-- month or week. A cell counts its members (cohort_members: a member that changed moves
-- the cells from its first day) and the MRR periods holding its anniversaries (a changed
-- period moves them from the day it changed), and a new newest day is an anniversary of
-- the cells of its own month or week only: the rebuild reads the periods that end after
-- the first rebuilt month's or week's first day (a rebuilt cell's anniversaries are on or
-- after its anniversary_start, so a period holding one ends after that day; read from
-- {since} - 31 instead, at 1M subscriptions on the 21st, 0.83M periods -> ~0.7M)
-- @range resolution anniversary_start cohort_resolution
-- @reads marts.subscription_mrr WHERE period_end > least(CAST(date_trunc('week', {since}) AS DATE), CAST(date_trunc('month', {since}) AS DATE))
WITH bounds AS (
    SELECT data_start, horizon FROM marts.subscription_bounds
),
-- the members from the first loaded day to the newest
dated_members AS (
    SELECT c.*
    FROM marts.cohort_members AS c
    CROSS JOIN bounds AS b
    WHERE c.first_day >= b.data_start AND c.first_day <= b.horizon
),
-- their segments named (marts.dim_segment), per acquisition channel: a few hundred pairs
named AS (
    SELECT c.segment_id, c.acquisition_channel, g.country, g.platform, g.plan_code,
        g.channel, g.currency
    FROM (SELECT DISTINCT segment_id, acquisition_channel FROM dated_members) AS c
    JOIN marts.dim_segment AS g ON g.segment_id = c.segment_id
),
-- the segments (country, platform, plan, channel, currency, acquisition channel) as
-- numbers: the large joins and groupings below key on one integer, not six strings
segments AS (
    SELECT d.*,
        row_number() OVER (
            ORDER BY country, platform, plan_code, channel, currency, acquisition_channel
        ) AS segment
    FROM (
        SELECT DISTINCT country, platform, plan_code, channel, currency, acquisition_channel
        FROM named
    ) AS d
),
-- each (segment_id, acquisition channel) pair's number (segment_id also tells the
-- billing channel's sector apart, which the cells do not): the members take theirs by two
-- keys instead of six strings each
numbered AS (
    SELECT n.segment_id, n.acquisition_channel, s.segment
    FROM named AS n
    JOIN segments AS s
        ON s.country = n.country AND s.platform = n.platform AND s.plan_code = n.plan_code
        AND s.channel = n.channel AND s.currency = n.currency
        AND s.acquisition_channel = n.acquisition_channel
),
members AS (
    SELECT c.subscription_id, n.segment, c.first_day, CAST(c.mrr AS DECIMAL(18, 6)) AS mrr,
        CAST(c.mrr_reporting AS DECIMAL(18, 6)) AS mrr_reporting
    FROM dated_members AS c
    JOIN numbered AS n
        ON n.segment_id = c.segment_id AND n.acquisition_channel = c.acquisition_channel
),
resolutions AS (
    SELECT 'monthly' AS cohort_resolution, 120 AS last_age
    UNION ALL
    SELECT 'weekly', 12
),
ages AS (
    SELECT r.cohort_resolution, CAST(a.age AS INTEGER) AS age
    FROM resolutions AS r
    JOIN generate_series(0, 120) AS a(age) ON a.age <= r.last_age
),
-- members by first day: the eligible counts and starting MRR per cell come from these
first_days AS (
    SELECT segment, first_day, count(*) AS members, sum(mrr) AS mrr,
        sum(mrr_reporting) AS mrr_reporting, count(mrr_reporting) AS converted
    FROM members
    GROUP BY segment, first_day
),
-- per resolution, each first day's cohort and its last age whose anniversary is known
-- (on or before the newest loaded day: an age's anniversaries come in the order of the
-- ages): its members count in the cells of ages 0 to that one. Adding months to every
-- first day for every age (a first day's row per age, 0.7M rows at 1M subscriptions)
-- cost more than the grouping of the cells itself
known AS (
    SELECT d.segment, 'monthly' AS cohort_resolution,
        CAST(date_trunc('month', d.first_day) AS DATE) AS cohort_start,
        d.months - CASE WHEN CAST(d.first_day + d.months * INTERVAL 1 MONTH AS DATE) > d.horizon
            THEN 1 ELSE 0 END AS known_age,
        d.members, d.mrr, d.mrr_reporting, d.converted
    FROM (
        SELECT f.*, b.horizon, date_diff('month', f.first_day, b.horizon) AS months
        FROM first_days AS f
        CROSS JOIN bounds AS b
    ) AS d
    UNION ALL
    SELECT f.segment, 'weekly', CAST(date_trunc('week', f.first_day) AS DATE),
        CAST(floor(CAST(b.horizon - f.first_day AS DOUBLE) / 7) AS INTEGER),
        f.members, f.mrr, f.mrr_reporting, f.converted
    FROM first_days AS f
    CROSS JOIN bounds AS b
),
-- a cohort's first days with the same last known age added up (a few per cohort)
known_cohorts AS (
    SELECT cohort_resolution, cohort_start, segment, known_age, sum(members) AS members,
        sum(mrr) AS mrr, sum(mrr_reporting) AS mrr_reporting, sum(converted) AS converted
    FROM known
    GROUP BY cohort_resolution, cohort_start, segment, known_age
),
-- the cells known so far (an anniversary after the newest loaded day is not)
cells AS (
    SELECT k.cohort_resolution, k.cohort_start, k.segment, a.age,
        sum(k.members) AS eligible, sum(k.mrr) AS mrr_start,
        CASE WHEN sum(k.members - k.converted) = 0 THEN sum(k.mrr_reporting) END
            AS mrr_start_reporting
    FROM known_cohorts AS k
    JOIN ages AS a ON a.cohort_resolution = k.cohort_resolution AND a.age <= k.known_age
    GROUP BY k.cohort_resolution, k.cohort_start, k.segment, a.age
),
sizes AS (
    SELECT segment, cohort_resolution, cohort_start, max(eligible) AS cohort_size
    FROM cells
    GROUP BY segment, cohort_resolution, cohort_start
),
-- the members' MRR periods, those alike in segment, first day, start and end added up
-- first (the rest works per group, not per period: at 1M subscriptions 0.71M periods make
-- 61k groups in a daily rebuild, 6.2M make 0.38M in the full build), with the ages
-- whose anniversaries can fall inside them: from age_from to age_from + width (monthly:
-- the months between the first day and the period's start to those to its end, the test
-- below keeps the ones inside; weekly: exactly the whole weeks inside [start, end)), ages
-- 0-120 months and 0-12 weeks
periods AS (
    SELECT m.segment, m.first_day, p.period_start, p.period_end,
        count(*) AS subscriptions, sum(CAST(p.mrr AS DECIMAL(18, 6))) AS mrr,
        sum(CAST(p.mrr_reporting AS DECIMAL(18, 6))) AS mrr_reporting,
        count(p.mrr_reporting) AS converted
    FROM members AS m
    JOIN marts.subscription_mrr AS p ON p.subscription_id = m.subscription_id
    GROUP BY m.segment, m.first_day, p.period_start, p.period_end
),
spans AS (
    SELECT s.*,
        greatest(date_diff('month', s.first_day, s.period_start), 0) AS month_from,
        least(date_diff('month', s.first_day, s.period_end), 120) AS month_to,
        greatest(CAST(ceil(CAST(s.period_start - s.first_day AS DOUBLE) / 7) AS INTEGER), 0)
            AS week_from,
        least(CAST(floor(CAST(s.period_end - 1 - s.first_day AS DOUBLE) / 7) AS INTEGER), 12)
            AS week_to
    FROM periods AS s
),
-- each first day's monthly anniversaries, worked out once (a few hundred first days times
-- 121 ages) and looked up: adding months to a date for each of the millions of candidate
-- rows below was a tenth of this model's CPU
anniversaries AS (
    SELECT d.first_day, a.age, CAST(d.first_day + a.age * INTERVAL 1 MONTH AS DATE)
        AS anniversary
    FROM (SELECT DISTINCT first_day FROM members) AS d
    CROSS JOIN ages AS a
    WHERE a.cohort_resolution = 'monthly'
),
-- (width, step) for each width 0-120 and step 0..width: a period spanning ages
-- from..from + width meets each of them by an equality join (a range join of every
-- period with the ages sorted them all and cost most of this model)
steps AS (
    SELECT age AS step FROM ages WHERE cohort_resolution = 'monthly'
),
widths AS (
    SELECT w.step AS width, s.step
    FROM steps AS w
    JOIN steps AS s ON s.step <= w.step
),
kept AS (
    SELECT s.segment, 'monthly' AS cohort_resolution,
        CAST(date_trunc('month', s.first_day) AS DATE) AS cohort_start,
        n.age, s.subscriptions, s.mrr, s.mrr_reporting, s.converted, n.anniversary,
        s.period_start, s.period_end
    FROM spans AS s
    JOIN widths AS w ON w.width = s.month_to - s.month_from
    JOIN anniversaries AS n ON n.first_day = s.first_day AND n.age = s.month_from + w.step
    UNION ALL
    SELECT s.segment, 'weekly', CAST(date_trunc('week', s.first_day) AS DATE),
        s.week_from + w.step, s.subscriptions, s.mrr, s.mrr_reporting, s.converted,
        s.first_day + 7 * (s.week_from + w.step), s.period_start, s.period_end
    FROM spans AS s
    JOIN widths AS w ON w.width = s.week_to - s.week_from
    WHERE s.period_start <= s.first_day + 7 * 12
),
-- the anniversaries held: on or after the period's start, before its end, known
held AS (
    SELECT k.cohort_resolution, k.cohort_start, k.segment, k.age, k.subscriptions, k.mrr,
        k.mrr_reporting, k.converted
    FROM kept AS k
    CROSS JOIN bounds AS b
    WHERE k.anniversary >= k.period_start AND k.anniversary < k.period_end
        AND k.anniversary <= b.horizon
),
retained AS (
    SELECT cohort_resolution, cohort_start, segment, age,
        sum(subscriptions) AS retained,
        sum(mrr) AS mrr_retained,
        CASE WHEN sum(subscriptions) = sum(converted) THEN sum(mrr_reporting) END
            AS mrr_retained_reporting
    FROM held
    GROUP BY cohort_resolution, cohort_start, segment, age
)
SELECT
    c.cohort_resolution, c.cohort_start, g.country, g.platform, g.plan_code, g.channel,
    g.currency, g.acquisition_channel, c.age,
    CASE c.cohort_resolution WHEN 'monthly'
        THEN CAST(c.cohort_start + c.age * INTERVAL 1 MONTH AS DATE)
        ELSE c.cohort_start + 7 * c.age END AS anniversary_start,
    CAST(s.cohort_size AS BIGINT) AS cohort_size,
    CAST(c.eligible AS BIGINT) AS eligible,
    CAST(coalesce(r.retained, 0) AS BIGINT) AS retained,
    CAST(CAST(c.mrr_start AS DECIMAL(18, 2)) AS DOUBLE) AS mrr_start,
    CAST(CAST(coalesce(r.mrr_retained, 0) AS DECIMAL(18, 2)) AS DOUBLE) AS mrr_retained,
    CAST(CAST(c.mrr_start_reporting AS DECIMAL(18, 2)) AS DOUBLE) AS mrr_start_reporting,
    CAST(CAST(CASE WHEN coalesce(r.retained, 0) = 0 THEN 0 ELSE r.mrr_retained_reporting END
        AS DECIMAL(18, 2)) AS DOUBLE) AS mrr_retained_reporting
FROM cells AS c
JOIN segments AS g ON g.segment = c.segment
JOIN sizes AS s
    ON s.cohort_resolution = c.cohort_resolution AND s.cohort_start = c.cohort_start
    AND s.segment = c.segment
LEFT JOIN retained AS r
    ON r.cohort_resolution = c.cohort_resolution AND r.cohort_start = c.cohort_start
    AND r.segment = c.segment AND r.age = c.age
WHERE c.eligible > 0
