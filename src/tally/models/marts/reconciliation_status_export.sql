-- Reconciliation: the recurring total (marts.subscriber_total) against the point-in-time
-- count of the subscriber-status export, for every day an export was loaded.
--   tally_active     the recurring total at the end of the day (Active subscriber)
--   export_active    export rows of that day with status 'active' or 'grace_period'
--   difference       tally_active - export_active (0 when both agree)
-- Per day, country, platform, plan and payment status, so a difference points at its cause.
WITH exported AS (
    SELECT
        _partition_date AS day, country, platform, plan_code,
        CASE WHEN status = 'grace_period' THEN 'Grace period'
            WHEN payment_status = 'free_trial' THEN 'Free trial' ELSE 'Paying' END
            AS payment_status,
        count(*) AS export_active
    FROM staging.viu_premium_subscriber_status
    WHERE status IN ('active', 'grace_period')
    GROUP BY 1, 2, 3, 4, 5
),
recurring AS (
    SELECT day, country, platform, plan_code, payment_status, sum(active) AS tally_active
    FROM marts.subscriber_total
    WHERE day IN (SELECT DISTINCT _partition_date FROM staging.viu_premium_subscriber_status)
    GROUP BY day, country, platform, plan_code, payment_status
)
SELECT
    coalesce(r.day, e.day) AS day,
    coalesce(r.country, e.country) AS country,
    coalesce(r.platform, e.platform) AS platform,
    coalesce(r.plan_code, e.plan_code) AS plan_code,
    coalesce(r.payment_status, e.payment_status) AS payment_status,
    CAST(coalesce(r.tally_active, 0) AS BIGINT) AS tally_active,
    CAST(coalesce(e.export_active, 0) AS BIGINT) AS export_active,
    CAST(coalesce(r.tally_active, 0) - coalesce(e.export_active, 0) AS BIGINT) AS difference
FROM recurring AS r
FULL OUTER JOIN exported AS e
    ON r.day = e.day AND r.country = e.country AND r.platform = e.platform
    AND r.plan_code = e.plan_code AND r.payment_status = e.payment_status
WHERE coalesce(r.tally_active, 0) <> 0 OR coalesce(e.export_active, 0) <> 0
