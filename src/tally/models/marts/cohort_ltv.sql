-- Cohort lifetime value, per monthly cohort (as in cohort_retention: first paid month,
-- country, platform, first plan, billing channel, currency, acquisition channel).
--   revenue_to_date   what the cohort's subscriptions paid from their first paid day to the
--                     newest loaded day: purchases and renewals net of refunds, each
--                     transaction once (subscription_revenue, from staging's latest copy);
--                     *_reporting converted at each transaction's day's rate (NULL where
--                     one lacks a rate)
--   realised_ltv      revenue_to_date / cohort_size
--   known_age         the oldest age (months) every member has reached
--   monthly_retention (retained / cohort_size at known_age) ^ (1 / known_age): the
--                     cohort's average month-on-month subscriber retention so far
--   mrr_per_member    the cohort's MRR at known_age / cohort_size
--   projected_ltv     the 36-month LTV: realised_ltv plus, for each month from known_age + 1
--                     to 36, mrr_per_member * monthly_retention ^ (months after
--                     known_age): the cohort keeps losing subscribers at its average rate so
--                     far and the ones left keep paying their current MRR (a geometric
--                     curve; NULL while known_age is 0). Reporting-currency columns alike.
-- The members are cohort_members' (read once for this and cohort_retention).
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): rebuilt whole (every
-- day's payments reach every cohort), in the daily build's one transaction with the ranged
-- models; a few rows per cohort, replaced whole when any differs:
-- @range all
WITH bounds AS (
    SELECT data_start, horizon FROM marts.subscription_bounds
),
cohorts AS (
    SELECT cohort_start, country, platform, plan_code, channel, currency,
        acquisition_channel, max(cohort_size) AS cohort_size,
        max(CASE WHEN eligible = cohort_size THEN age END) AS known_age
    FROM marts.cohort_retention
    WHERE cohort_resolution = 'monthly'
    GROUP BY cohort_start, country, platform, plan_code, channel, currency,
        acquisition_channel
),
at_known_age AS (
    SELECT c.*, r.retained, r.mrr_retained, r.mrr_retained_reporting
    FROM cohorts AS c
    JOIN marts.cohort_retention AS r
        ON r.cohort_resolution = 'monthly' AND r.cohort_start = c.cohort_start
        AND r.country = c.country AND r.platform = c.platform
        AND r.plan_code = c.plan_code AND r.channel = c.channel
        AND r.currency = c.currency AND r.acquisition_channel = c.acquisition_channel
        AND r.age = c.known_age
),
revenue AS (
    SELECT CAST(date_trunc('month', f.first_day) AS DATE) AS cohort_start, g.country,
        g.platform, g.plan_code, g.channel, g.currency, f.acquisition_channel,
        CAST(sum(CAST(p.revenue AS DECIMAL(18, 2))) AS DOUBLE) AS revenue,
        CAST(CASE WHEN count(*) = count(p.revenue_reporting)
            THEN sum(CAST(p.revenue_reporting AS DECIMAL(18, 2))) END AS DOUBLE)
            AS revenue_reporting
    FROM marts.cohort_members AS f
    JOIN marts.dim_segment AS g ON g.segment_id = f.segment_id
    JOIN marts.subscription_revenue AS p ON p.subscription_id = f.subscription_id
    CROSS JOIN bounds AS b
    WHERE f.first_day >= b.data_start
    GROUP BY 1, g.country, g.platform, g.plan_code, g.channel, g.currency,
        f.acquisition_channel
),
curve AS (
    SELECT k.*, v.revenue, v.revenue_reporting,
        CASE WHEN k.known_age > 0
            THEN power(CAST(k.retained AS DOUBLE) / k.cohort_size, 1.0 / k.known_age)
            END AS monthly_retention,
        greatest(36 - k.known_age, 0) AS months_left
    FROM at_known_age AS k
    LEFT JOIN revenue AS v
        ON v.cohort_start = k.cohort_start AND v.country = k.country
        AND v.platform = k.platform AND v.plan_code = k.plan_code
        AND v.channel = k.channel AND v.currency = k.currency
        AND v.acquisition_channel = k.acquisition_channel
),
projected AS (
    SELECT *,
        CASE WHEN monthly_retention IS NULL THEN NULL
            WHEN monthly_retention >= 1 THEN CAST(months_left AS DOUBLE)
            ELSE monthly_retention * (1 - power(monthly_retention, months_left))
                / (1 - monthly_retention)
        END AS months_ahead
    FROM curve
)
SELECT
    cohort_start, country, platform, plan_code, channel, currency, acquisition_channel,
    CAST(cohort_size AS BIGINT) AS cohort_size,
    CAST(known_age AS INTEGER) AS known_age,
    CAST(CAST(coalesce(revenue, 0) AS DECIMAL(18, 2)) AS DOUBLE) AS revenue_to_date,
    CAST(CAST(revenue_reporting AS DECIMAL(18, 2)) AS DOUBLE) AS revenue_to_date_reporting,
    CAST(CAST(coalesce(revenue, 0) / cohort_size AS DECIMAL(18, 2)) AS DOUBLE)
        AS realised_ltv,
    CAST(CAST(revenue_reporting / cohort_size AS DECIMAL(18, 2)) AS DOUBLE)
        AS realised_ltv_reporting,
    CAST(monthly_retention AS DOUBLE) AS monthly_retention,
    CAST(CAST(mrr_retained / cohort_size AS DECIMAL(18, 2)) AS DOUBLE) AS mrr_per_member,
    CAST(CAST(coalesce(revenue, 0) / cohort_size + mrr_retained / cohort_size * months_ahead
        AS DECIMAL(18, 2)) AS DOUBLE) AS projected_ltv,
    CAST(CAST(revenue_reporting / cohort_size
        + mrr_retained_reporting / cohort_size * months_ahead AS DECIMAL(18, 2)) AS DOUBLE)
        AS projected_ltv_reporting
FROM projected
