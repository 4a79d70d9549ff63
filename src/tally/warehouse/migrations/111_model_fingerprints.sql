-- What each built model's table was built from (tally.pipeline.fingerprints): a daily build
-- rebuilds fully a model whose fingerprint differs from the stored one, or has none (a
-- warehouse built before this table), and every model reading it (issue 21, upgrading tally
-- under a kept warehouse). fingerprint covers the model's SQL, the settings it reads and
-- the fingerprints of the models it reads; sql and settings are the first two alone, kept
-- to say which of them changed.
CREATE TABLE IF NOT EXISTS tally_meta.model_fingerprints (
    model VARCHAR PRIMARY KEY,
    fingerprint VARCHAR NOT NULL,
    sql_hash VARCHAR NOT NULL,
    settings_hash VARCHAR NOT NULL,
    run_id VARCHAR,
    built_at TIMESTAMP NOT NULL
);
-- A ledger step's remark that is not an error: a model rebuilt fully by a daily build says
-- why ("rebuilt fully: its SQL changed since the last build").
ALTER TABLE tally_meta.runs ADD COLUMN note VARCHAR;
