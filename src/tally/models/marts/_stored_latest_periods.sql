-- The stored latest periods ("tails") the daily build replaces (not a model:
-- pipeline/extension.py _latest_periods, the "last_stored" table): those of the extended
-- subscriptions and of the users recomputed whole, with the row id "tails" carries where the
-- warehouse has row ids (the rows replaced are deleted by it). Filled in by step_sql:
-- recomputed (the condition on user_id naming the users recomputed whole).
SELECT *
FROM tails
WHERE subscription_id IN (SELECT subscription_id FROM touched) OR {recomputed}
