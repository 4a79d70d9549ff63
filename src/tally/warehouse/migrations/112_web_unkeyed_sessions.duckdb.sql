-- DuckDB only (the ".duckdb" before ".sql"): web.actions and web.visits without their
-- primary keys. DuckDB keeps a primary key as an ART index updated on every insert, and a
-- text key (hit_id, the 32-character idvisit) made writing a year's sessionized rows cost
-- about a third more; no DuckDB query looks these tables up by key. Each is unique by
-- construction: actions.sql writes one row per hit of the dirty site-days after deleting
-- those days' rows, visits.sql one per visit key (tests/web/test_sessions.py checks both).
-- PostgreSQL and Redshift keep the keys: PostgreSQL's correlated lookups use them.
-- The rows are kept: each table is copied into its unkeyed twin, which takes its name.
CREATE TABLE web.actions_unkeyed (
    hit_id VARCHAR NOT NULL,
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
    seconds_since_previous BIGINT,
    visit_key BIGINT,
    interaction INTEGER,
    pageview_number INTEGER,
    page_label VARCHAR,
    next_page_label VARCHAR,
    previous_kind VARCHAR,
    previous_label VARCHAR,
    next_kind VARCHAR,
    next_label VARCHAR,
    time_spent BIGINT,
    first_view_of_page BOOLEAN,
    page_id INTEGER,
    next_page_id INTEGER,
    url_fragment VARCHAR
);
INSERT INTO web.actions_unkeyed BY NAME SELECT * FROM web.actions;
DROP TABLE web.actions;
ALTER TABLE web.actions_unkeyed RENAME TO actions;

CREATE TABLE web.visits_unkeyed (
    idvisit VARCHAR NOT NULL,
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
    goals VARCHAR,
    visit_key BIGINT,
    entry_label VARCHAR,
    exit_label VARCHAR,
    provider VARCHAR
);
INSERT INTO web.visits_unkeyed BY NAME SELECT * FROM web.visits;
DROP TABLE web.visits;
ALTER TABLE web.visits_unkeyed RENAME TO visits;
