-- Web and app analytics, part 2 (issue 6): goals, and the visits, actions and goal
-- conversions that tally.web.sessions computes from web.hits (tables, refreshed per site-day).

-- A goal of a site. match_attribute says what a hit is compared with: 'url' (page views),
-- 'event_category', 'event_action', 'event_name' (events), or 'manual' (only trackGoal).
-- pattern_type: 'contains', 'exact' or 'regex'. A trackGoal(idgoal) hit converts any goal.
CREATE TABLE IF NOT EXISTS web.goals (
    idsite INTEGER NOT NULL,
    idgoal INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    match_attribute VARCHAR NOT NULL,
    pattern_type VARCHAR,
    pattern VARCHAR,
    case_sensitive BOOLEAN NOT NULL,
    allow_multiple BOOLEAN NOT NULL,
    revenue DOUBLE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (idsite, idgoal)
);

-- One secret salt per day for cookieless visitors: the visitor key is a hash of salt, user
-- agent and (anonymised) IP, so the same browser is one visitor within a day and a stranger
-- the next. Deleting a day's salt makes its hashes unlinkable for good.
CREATE TABLE IF NOT EXISTS web.visitor_salts (
    salt_date DATE NOT NULL PRIMARY KEY,
    salt VARCHAR NOT NULL
);

-- The site-days a sessionize run recomputes, with their bounds in UTC (work table).
CREATE TABLE IF NOT EXISTS web.dirty_days (
    idsite INTEGER NOT NULL,
    local_date DATE NOT NULL,
    utc_start TIMESTAMP NOT NULL,
    utc_end TIMESTAMP NOT NULL
);

-- Every hit of web.hits, placed in its visit. Pings and goal requests are kept (they carry
-- time and conversions) but are not actions (is_action false), as in Matomo.
-- idvisit is NULL only for a ping that would have opened a visit (Matomo ignores those).
CREATE TABLE IF NOT EXISTS web.actions (
    hit_id VARCHAR NOT NULL PRIMARY KEY,
    idsite INTEGER NOT NULL,
    local_date DATE NOT NULL,
    idvisit VARCHAR,
    visitor_key VARCHAR NOT NULL,
    position INTEGER,
    hit_time TIMESTAMP NOT NULL,
    local_time TIMESTAMP NOT NULL,
    kind VARCHAR NOT NULL,
    is_action BOOLEAN NOT NULL,
    url VARCHAR,
    action_name VARCHAR,
    link_url VARCHAR,
    event_category VARCHAR,
    event_action VARCHAR,
    event_name VARCHAR,
    event_value DOUBLE,
    search_keyword VARCHAR,
    idgoal INTEGER,
    revenue DOUBLE,
    pv_id VARCHAR,
    seconds_since_previous BIGINT
);

-- One row per visit (Matomo's definition: 30 minutes idle, local midnight, a new campaign
-- or new_visit=1 start a new one). Times are UTC; local_date is the site's day.
CREATE TABLE IF NOT EXISTS web.visits (
    idvisit VARCHAR NOT NULL PRIMARY KEY,
    idsite INTEGER NOT NULL,
    local_date DATE NOT NULL,
    visitor_key VARCHAR NOT NULL,
    visitor_id VARCHAR,
    user_id VARCHAR,
    first_hit_id VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP NOT NULL,
    duration_seconds BIGINT NOT NULL,
    actions INTEGER NOT NULL,
    pageviews INTEGER NOT NULL,
    outlinks INTEGER NOT NULL,
    downloads INTEGER NOT NULL,
    events INTEGER NOT NULL,
    searches INTEGER NOT NULL,
    entry_url VARCHAR,
    entry_title VARCHAR,
    exit_url VARCHAR,
    exit_title VARCHAR,
    referrer_type VARCHAR,
    referrer_name VARCHAR,
    referrer_keyword VARCHAR,
    campaign_name VARCHAR,
    campaign_keyword VARCHAR,
    campaign_source VARCHAR,
    campaign_medium VARCHAR,
    device_type VARCHAR,
    os_name VARCHAR,
    browser_name VARCHAR,
    country VARCHAR,
    conversions INTEGER NOT NULL,
    revenue DOUBLE NOT NULL,
    goals VARCHAR
);

-- Goal conversions: at most one per goal and visit unless the goal allows several.
CREATE TABLE IF NOT EXISTS web.conversions (
    idsite INTEGER NOT NULL,
    local_date DATE NOT NULL,
    idvisit VARCHAR NOT NULL,
    idgoal INTEGER NOT NULL,
    hit_id VARCHAR NOT NULL,
    converted_at TIMESTAMP NOT NULL,
    revenue DOUBLE
);
