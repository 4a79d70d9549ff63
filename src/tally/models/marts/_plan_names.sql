-- marts.dim_plan's rows (models/plans.py, a Python model): the newest snapshot of the plan
-- map, one name per (platform, plan code). Several store products can share a plan code
-- and their names may differ, so the first name in alphabetical order is taken, which is
-- stable from build to build. Not a model (the leading underscore).
SELECT platform, plan_code, min(plan_name) AS plan_name
FROM staging.google_drive_iap_plan_map
WHERE _partition_date = (SELECT max(_partition_date) FROM staging.google_drive_iap_plan_map)
    AND plan_code IS NOT NULL AND plan_name IS NOT NULL
GROUP BY platform, plan_code
