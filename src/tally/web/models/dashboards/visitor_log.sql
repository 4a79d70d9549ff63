-- The web dashboard's visitor log (server/ui/web_visitors.py visitor_log): the newest 200
-- of the scoped visits, one row each. Filled in by dashboard_sql: visits (the scoped
-- visits).
SELECT
    v.started_at,
    substr(v.visitor_key, 1, 8),
    v.country,
    v.provider,
    v.device_type,
    v.browser_name,
    coalesce(v.referrer_name, v.referrer_type),
    v.actions,
    v.duration_seconds,
    v.entry_url,
    v.exit_url,
    v.conversions
FROM ({visits}) AS v
ORDER BY v.started_at DESC
LIMIT 200
