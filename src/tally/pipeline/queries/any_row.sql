-- 1 when a row of {table} meets {condition}, else 0: the scan stops at the first such row
-- (whether a day's changed rows reach a model at all, pipeline/incremental.py)
SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {condition} LIMIT 1) AS one
