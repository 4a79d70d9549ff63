-- The billing events the extension reads for the touched subscriptions (not a model:
-- pipeline/extension.py _extend): their new rows, and all their refunds (a refund may come
-- before the period it cuts is known), the earlier ones from the small table of refunds.
-- Filled in by step_fragment: columns (the refunds' columns), latest (the temporary table
-- of changed billing events), refunds (marts.refund_transactions), horizon (a DATE
-- literal: the newest day built before) and touched (the condition on subscription_id).
SELECT * FROM (
    SELECT {columns} FROM {latest} WHERE NOT _old
    UNION ALL
    SELECT {columns} FROM {refunds} WHERE _partition_date <= {horizon}
) AS day_rows
WHERE {touched}
