-- A visit's columns of web.visits from exit_url to goals: the exit hit (leaving), the
-- referrer hit (r), the hit the device is read from ({first_hit}) and the goals (g).
-- Shared by visits.sql and the sorted engine's sorted_visits.sql.
    leaving.url,
    leaving.action_name,
    r.referrer_type,
    r.referrer_name,
    r.referrer_keyword,
    r.campaign_name,
    -- a campaign without keyword of its own is known by its referrer's host (Base.php)
    CASE
        WHEN r.referrer_type = 'campaign' THEN coalesce(r.campaign_keyword, r.referrer_keyword)
        ELSE r.campaign_keyword
    END,
    r.campaign_source,
    r.campaign_medium,
    {first_hit}.device_type,
    {first_hit}.os_name,
    {first_hit}.browser_name,
    {first_hit}.country,
    coalesce(g.conversions, 0),
    coalesce(g.revenue, 0),
    g.goals,
