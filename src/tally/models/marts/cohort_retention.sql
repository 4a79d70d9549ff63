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
-- Rebuilt whole by the daily build: each new day is an anniversary of cohorts of every age.
WITH bounds AS (
    SELECT data_start, horizon FROM marts.subscription_bounds
),
acquired AS (
    SELECT subscription_id, channel AS acquisition_channel
    FROM marts.subscription_attribution
    WHERE model = 'First touch' AND channel <> '(no linked visit)'
),
-- each subscription's first MRR period (first_start: no window needed)
firsts AS (
    SELECT m.subscription_id, m.country, m.platform, m.plan_code, m.channel, m.currency,
        coalesce(a.acquisition_channel, 'unattributed') AS acquisition_channel,
        m.period_start AS first_day, CAST(m.mrr AS DECIMAL(18, 6)) AS mrr,
        CAST(m.mrr_reporting AS DECIMAL(18, 6)) AS mrr_reporting
    FROM marts.subscription_mrr AS m
    CROSS JOIN bounds AS b
    LEFT JOIN acquired AS a ON a.subscription_id = m.subscription_id
    WHERE m.period_start = m.first_start
        AND m.first_start >= b.data_start AND m.first_start <= b.horizon
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
        FROM firsts
    ) AS d
),
members AS (
    SELECT f.subscription_id, s.segment, f.first_day, f.mrr, f.mrr_reporting
    FROM firsts AS f
    JOIN segments AS s
        ON s.country = f.country AND s.platform = f.platform AND s.plan_code = f.plan_code
        AND s.channel = f.channel AND s.currency = f.currency
        AND s.acquisition_channel = f.acquisition_channel
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
dated AS (
    SELECT d.*, a.cohort_resolution, a.age,
        CASE a.cohort_resolution WHEN 'monthly'
            THEN CAST(date_trunc('month', d.first_day) AS DATE)
            ELSE CAST(date_trunc('week', d.first_day) AS DATE) END AS cohort_start,
        CASE a.cohort_resolution WHEN 'monthly'
            THEN CAST(d.first_day + a.age * INTERVAL 1 MONTH AS DATE)
            ELSE d.first_day + 7 * a.age END AS anniversary
    FROM first_days AS d
    CROSS JOIN ages AS a
),
-- the cells known so far (an anniversary after the newest loaded day is not)
cells AS (
    SELECT d.cohort_resolution, d.cohort_start, d.segment, d.age,
        sum(d.members) AS eligible, sum(d.mrr) AS mrr_start,
        CASE WHEN sum(d.members - d.converted) = 0 THEN sum(d.mrr_reporting) END
            AS mrr_start_reporting
    FROM dated AS d
    CROSS JOIN bounds AS b
    WHERE d.anniversary <= b.horizon
    GROUP BY d.cohort_resolution, d.cohort_start, d.segment, d.age
),
sizes AS (
    SELECT segment, cohort_resolution, cohort_start, max(eligible) AS cohort_size
    FROM cells
    GROUP BY segment, cohort_resolution, cohort_start
),
-- each member's MRR periods with the ages whose anniversaries can fall inside them (the
-- range as plain columns: the join below is a range join on two columns)
spans AS (
    SELECT m.segment, m.first_day, CAST(p.mrr AS DECIMAL(18, 6)) AS mrr,
        CAST(p.mrr_reporting AS DECIMAL(18, 6)) AS mrr_reporting, p.period_start,
        p.period_end,
        date_diff('month', m.first_day, p.period_start) AS month_from,
        date_diff('month', m.first_day, p.period_end) AS month_to,
        CAST(ceil(CAST(p.period_start - m.first_day AS DOUBLE) / 7) AS INTEGER) AS week_from,
        CAST(floor(CAST(p.period_end - 1 - m.first_day AS DOUBLE) / 7) AS INTEGER) AS week_to
    FROM members AS m
    JOIN marts.subscription_mrr AS p ON p.subscription_id = m.subscription_id
),
-- each MRR period holds the anniversaries that fall inside it: monthly, the ages from the
-- months between the first day and the period's start to those to its end (the test
-- below keeps the ones inside); weekly, exactly the whole weeks inside [start, end)
kept AS (
    SELECT s.segment, 'monthly' AS cohort_resolution,
        CAST(date_trunc('month', s.first_day) AS DATE) AS cohort_start,
        a.age, s.mrr, s.mrr_reporting,
        CAST(s.first_day + a.age * INTERVAL 1 MONTH AS DATE) AS anniversary,
        s.period_start, s.period_end
    FROM spans AS s
    JOIN ages AS a
        ON a.cohort_resolution = 'monthly' AND a.age >= s.month_from AND a.age <= s.month_to
    UNION ALL
    SELECT s.segment, 'weekly', CAST(date_trunc('week', s.first_day) AS DATE), a.age, s.mrr,
        s.mrr_reporting, s.first_day + 7 * a.age, s.period_start, s.period_end
    FROM spans AS s
    JOIN ages AS a
        ON a.cohort_resolution = 'weekly' AND a.age >= s.week_from AND a.age <= s.week_to
    WHERE s.period_start <= s.first_day + 7 * 12
),
-- counted in the aggregate rather than filtered before it: a filter would be checked
-- inside the range join above, for every age of every period
inside AS (
    SELECT k.*,
        CASE WHEN k.anniversary >= k.period_start AND k.anniversary < k.period_end
            AND k.anniversary <= b.horizon THEN 1 ELSE 0 END AS held
    FROM kept AS k
    CROSS JOIN bounds AS b
),
retained AS (
    SELECT k.cohort_resolution, k.cohort_start, k.segment, k.age,
        sum(k.held) AS retained,
        sum(CASE WHEN k.held = 1 THEN k.mrr END) AS mrr_retained,
        CASE WHEN sum(k.held) = sum(CASE WHEN k.mrr_reporting IS NULL THEN 0 ELSE k.held END)
            THEN sum(CASE WHEN k.held = 1 THEN k.mrr_reporting END) END
            AS mrr_retained_reporting
    FROM inside AS k
    GROUP BY k.cohort_resolution, k.cohort_start, k.segment, k.age
)
SELECT
    c.cohort_resolution, c.cohort_start, g.country, g.platform, g.plan_code, g.channel,
    g.currency, g.acquisition_channel, c.age,
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
