-- Web and app analytics (issue 6): sites, the hits loaded from the durable hit log,
-- the loader's per-segment offsets, and the API tokens of the server.
CREATE SCHEMA IF NOT EXISTS web;

-- A tracked site or app; `tally site add` writes it, the tracking endpoint reads it to
-- reject hits for unknown sites. `urls` is a JSON list of every URL of the site.
CREATE TABLE IF NOT EXISTS web.sites (
    idsite INTEGER NOT NULL PRIMARY KEY,
    name VARCHAR NOT NULL,
    main_url VARCHAR NOT NULL,
    urls VARCHAR NOT NULL,
    timezone VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- One row per accepted tracking request, enriched at load. Times are UTC.
-- hit_id is '<segment>:<byte offset>' of the record in the hit log, so a record can only
-- ever map to one row. kind: pageview, outlink, download, event, search, goal, ping, other.
CREATE TABLE IF NOT EXISTS web.hits (
    hit_id VARCHAR NOT NULL PRIMARY KEY,
    idsite INTEGER NOT NULL,
    received_at TIMESTAMP NOT NULL,
    hit_time TIMESTAMP NOT NULL,
    visitor_id VARCHAR,
    user_id VARCHAR,
    kind VARCHAR NOT NULL,
    url VARCHAR,
    action_name VARCHAR,
    urlref VARCHAR,
    link_url VARCHAR,
    search_keyword VARCHAR,
    search_category VARCHAR,
    search_count INTEGER,
    event_category VARCHAR,
    event_action VARCHAR,
    event_name VARCHAR,
    event_value DOUBLE,
    idgoal INTEGER,
    revenue DOUBLE,
    new_visit BOOLEAN NOT NULL,
    pv_id VARCHAR,
    resolution VARCHAR,
    local_hour INTEGER,
    local_minute INTEGER,
    local_second INTEGER,
    lang VARCHAR,
    user_agent VARCHAR,
    ip VARCHAR,
    country VARCHAR,
    region VARCHAR,
    city VARCHAR,
    latitude DOUBLE,
    longitude DOUBLE,
    device_type VARCHAR,
    device_brand VARCHAR,
    device_model VARCHAR,
    os_name VARCHAR,
    os_version VARCHAR,
    browser_name VARCHAR,
    browser_version VARCHAR,
    is_bot BOOLEAN NOT NULL,
    referrer_type VARCHAR NOT NULL,
    referrer_name VARCHAR,
    referrer_keyword VARCHAR,
    campaign_name VARCHAR,
    campaign_keyword VARCHAR,
    campaign_source VARCHAR,
    campaign_medium VARCHAR,
    custom_variables VARCHAR,
    dimensions VARCHAR,
    performance VARCHAR,
    transport VARCHAR NOT NULL,
    raw_query VARCHAR NOT NULL
);

-- How far the loader has read each hit-log segment; updated in the same transaction as
-- the insert into web.hits, so every record is loaded exactly once.
CREATE TABLE IF NOT EXISTS tally_meta.hitlog_segments (
    segment VARCHAR NOT NULL,
    loaded_offset BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    skipped_bytes BIGINT NOT NULL,
    sealed BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- API tokens: only the SHA-256 of a token is stored.
CREATE TABLE IF NOT EXISTS tally_meta.api_tokens (
    token_hash VARCHAR NOT NULL PRIMARY KEY,
    name VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
