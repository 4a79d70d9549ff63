-- The columns web.visits is written in: the head of visits.sql's INSERT and of the
-- sorted engine's (sorted_visits.sql), whose SELECTs list them in this order.
INSERT INTO web.visits (
    idvisit, idsite, local_date, visitor_key, visitor_id, user_id, first_hit_id, started_at,
    ended_at, duration_seconds, actions, pageviews, outlinks, downloads, events, searches,
    entry_url, entry_title, exit_url, exit_title, referrer_type, referrer_name,
    referrer_keyword, campaign_name, campaign_keyword, campaign_source, campaign_medium,
    device_type, os_name, browser_name, country, conversions, revenue, goals, visit_key,
    entry_label, exit_label, provider
)
