-- Telco partners' daily figures, one row per day, country, telco and plan. The sheet is
-- typed in by hand and corrected later, and every daily snapshot repeats the past rows:
-- the snapshot taken latest (highest _partition_date) holds the figures that count.
SELECT
    date,
    country,
    telco,
    plan_code,
    new_subscriptions,
    cancelled_subscriptions,
    active_subscriptions,
    revenue,
    currency,
    _partition_date AS snapshot_date
FROM staging.google_drive_telco_performance
QUALIFY row_number() OVER (
    PARTITION BY date, country, telco, plan_code ORDER BY _partition_date DESC
) = 1
