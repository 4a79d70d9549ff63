-- The dirty site-days' versions deleted, before each gets a new one (web/sessions.py
-- _stamp_versions).
DELETE FROM web.day_versions
WHERE EXISTS (
    SELECT 1 FROM web.dirty_days AS d
    WHERE d.idsite = web.day_versions.idsite AND d.local_date = web.day_versions.local_date
)
