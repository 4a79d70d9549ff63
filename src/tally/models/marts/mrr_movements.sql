-- MRR movements per business day, country, platform, plan, channel, sector and currency,
-- from subscription_mrr (one row per MRR period). Signed amounts, so that
--   MRR(d) = MRR(d-1) + new + expansion + contraction + churn + reactivation (+ exchange
--   rate, in the reporting currency only)
-- holds per country and platform (mrr_daily has the stock; a property test checks it).
--   New           an MRR period starting after none of the subscription's, by a user with
--                 no MRR period ended before it (a trial's first payment is New MRR; a
--                 second concurrent subscription too, as tally counts subscriptions)
--   Reactivation  an MRR period starting after a gap in the subscription's, or by a user
--                 whose earlier MRR ended before it (a comeback, a billing-retry recovery)
--   Expansion, Contraction  an MRR period continuing the one before without a gap at a
--                 higher / lower MRR (a plan change, a price change); counted under the new
--                 period's plan
--   Churn         an MRR period ending with no MRR period following it that day (expiry,
--                 billing failure, a full refund), on its end day, up to the newest loaded
--                 day (later ends may still be renewed)
--   Exchange rate (reporting currency only) a continuing period converted at a newer rate:
--                 previous MRR * (new factor - previous factor)
-- mrr is in `currency`; mrr_reporting in reporting_currency, NULL where any row summed
-- lacked a rate. Days from the first loaded day to the newest. Amounts are added up as
-- decimals (6 places), so a day's sum never depends on the order its rows are read in.
-- Its range (docs/ARCHITECTURE.md, "How a model declares its range"): by day; a day's rows
-- come from the MRR periods starting or ending on it:
-- @range day day
-- @reads marts.subscription_mrr WHERE period_end >= {since}
WITH bounds AS (
    SELECT data_start, horizon FROM marts.subscription_bounds
),
starts AS (
    SELECT
        m.period_start AS day, m.segment_id,
        CASE
            WHEN m.previous_end = m.period_start AND m.mrr > m.previous_mrr THEN 'Expansion'
            WHEN m.previous_end = m.period_start AND m.mrr < m.previous_mrr THEN 'Contraction'
            WHEN m.previous_end = m.period_start THEN NULL
            WHEN m.user_prev_end IS NOT NULL AND m.user_prev_end <= m.period_start
                THEN 'Reactivation'
            ELSE 'New'
        END AS movement,
        CAST(CASE WHEN m.previous_end = m.period_start THEN m.mrr - m.previous_mrr
            ELSE m.mrr END AS DECIMAL(18, 6)) AS mrr,
        CAST(CASE WHEN m.previous_end = m.period_start
            THEN (m.mrr - m.previous_mrr) * m.to_reporting ELSE m.mrr_reporting END
            AS DECIMAL(18, 6)) AS mrr_reporting
    FROM marts.subscription_mrr AS m
    UNION ALL
    SELECT
        m.period_start, m.segment_id, 'Exchange rate', CAST(0 AS DECIMAL(18, 6)),
        CAST(m.previous_mrr * (m.to_reporting - m.previous_to_reporting) AS DECIMAL(18, 6))
    FROM marts.subscription_mrr AS m
    WHERE m.previous_end = m.period_start
        AND (m.to_reporting <> m.previous_to_reporting
            OR (m.to_reporting IS NULL) <> (m.previous_to_reporting IS NULL))
    UNION ALL
    SELECT
        m.period_end, m.segment_id, 'Churn', -CAST(m.mrr AS DECIMAL(18, 6)),
        -CAST(m.mrr_reporting AS DECIMAL(18, 6))
    FROM marts.subscription_mrr AS m
    CROSS JOIN bounds AS b
    WHERE (m.next_start IS NULL OR m.next_start <> m.period_end)
        AND m.period_end <= b.horizon
)
-- grouped by subscription_mrr's one number for the segment, named (marts.dim_segment) in the
-- result rows
SELECT
    m.day, g.country, g.platform, g.plan_code, g.channel, g.channel_sector, g.currency,
    m.movement,
    (SELECT max(reporting_currency) FROM marts.dim_exchange_rate) AS reporting_currency,
    m.mrr, m.mrr_reporting, m.subscriptions
FROM (
    SELECT
        s.day, s.segment_id, s.movement,
        CAST(CAST(sum(s.mrr) AS DECIMAL(18, 2)) AS DOUBLE) AS mrr,
        CAST(CASE WHEN count(*) = count(s.mrr_reporting)
            THEN CAST(sum(s.mrr_reporting) AS DECIMAL(18, 2)) END AS DOUBLE) AS mrr_reporting,
        CAST(count(*) AS BIGINT) AS subscriptions
    FROM starts AS s
    CROSS JOIN bounds AS b
    WHERE s.movement IS NOT NULL AND s.day >= b.data_start AND s.day <= b.horizon
    GROUP BY s.day, s.segment_id, s.movement
) AS m
JOIN marts.dim_segment AS g ON g.segment_id = m.segment_id
