-- (user, subscription, period start) of every described row and refund the day brought
-- (not a model: the daily build's extension, pipeline/extension.py new_keys_sql). Filled in
-- by step_sql: transactions and described, the periods model's CTEs of those names (the
-- caller narrows their inputs to the new rows).
WITH transactions AS ({transactions}), described AS ({described})
SELECT user_id, subscription_id, start_date FROM described
UNION
SELECT user_id, subscription_id, start_date FROM transactions WHERE type = 'refund'
