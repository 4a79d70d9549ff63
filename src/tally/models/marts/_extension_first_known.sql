-- The extension's "first_known" step (not a model: pipeline/extension.py extended_sql): a
-- stand-in goes before a subscription's first period, so only new subscriptions (none
-- stored in tails) get one. Filled in by step_fragment: first_known (the model's CTE).
SELECT * FROM ({first_known}) AS f
WHERE f.subscription_id NOT IN (SELECT subscription_id FROM tails)
