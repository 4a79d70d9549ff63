-- The latest periods as they are now ("last_fresh") when some users were recomputed from
-- their whole history (not a model: pipeline/extension.py _latest_periods): those of the
-- extended subscriptions, from the extension's rows, and the recomputed users', from the
-- model's own SQL over their recomputed periods. Filled in by step_sql: columns
-- (marts.subscription_last_periods' columns) and recomputed (that SQL).
SELECT {columns} FROM extended WHERE is_last
UNION ALL
SELECT * FROM ({recomputed}) AS r
