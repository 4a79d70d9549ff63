-- tally's own metadata: the run ledger, the lake manifest and quarantined rows.
CREATE SCHEMA IF NOT EXISTS tally_meta;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS marts;

CREATE TABLE IF NOT EXISTS tally_meta.runs (
    run_id VARCHAR NOT NULL,
    step_id VARCHAR NOT NULL,
    job VARCHAR NOT NULL,
    source VARCHAR,
    dataset VARCHAR,
    partition_date DATE,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    status VARCHAR NOT NULL,
    rows_in BIGINT,
    rows_out BIGINT,
    rows_quarantined BIGINT,
    bytes BIGINT,
    attempt INTEGER,
    error VARCHAR
);

CREATE TABLE IF NOT EXISTS tally_meta.lake_files (
    key VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    source VARCHAR NOT NULL,
    dataset VARCHAR,
    partition_date DATE NOT NULL,
    landed_at TIMESTAMP NOT NULL,
    superseded_by VARCHAR
);

CREATE TABLE IF NOT EXISTS tally_meta.quarantine (
    source VARCHAR NOT NULL,
    dataset VARCHAR,
    partition_date DATE,
    file VARCHAR NOT NULL,
    line BIGINT,
    field VARCHAR,
    reason VARCHAR NOT NULL,
    raw VARCHAR,
    run_id VARCHAR,
    quarantined_at TIMESTAMP NOT NULL
);
