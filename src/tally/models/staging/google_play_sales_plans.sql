-- Google Play sales named with tally's plans: the IAP plan map (newest snapshot) maps each
-- SKU to its plan. A SKU the map does not know keeps its row, with plan_code NULL, so a
-- missing map entry shows up instead of dropping revenue.
-- One row per event: key Order Number + Financial Status (a charge and its refund share the
-- order number); a copy sent again, or revised, in a later file replaces the earlier one
-- (latest partition day, then file, then line: docs/metrics.md, "Duplicates and revisions").
WITH sales AS (
    SELECT *
    FROM staging.google_play_subscription_sales
    QUALIFY row_number() OVER (
        PARTITION BY order_number, financial_status
        ORDER BY _partition_date DESC, _file DESC, _line DESC
    ) = 1
)
SELECT
    s.order_number,
    s.order_charged_date,
    s.financial_status,
    s.sku_id,
    s.currency,
    s.charged_amount,
    s.buyer_country AS country,
    m.plan_code,
    m.plan_name,
    m.platform,
    m.channel_name,
    m.channel_sector,
    s._partition_date
FROM sales AS s
LEFT JOIN staging.iap_plan_map AS m ON m.product_id = s.sku_id
