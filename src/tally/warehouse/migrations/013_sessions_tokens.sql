-- Server-side dashboard sessions (issue 24): the cookie carries a random session id, this
-- table only its SHA-256. Logging out deletes the row, a password change deletes all of the
-- user's rows, so a copied cookie stops working at once.
CREATE TABLE IF NOT EXISTS tally_meta.sessions (
    session_hash VARCHAR NOT NULL PRIMARY KEY,
    name VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- API tokens belong to a user (their sites and rights) and may expire. A token without a
-- user (user_name NULL: every token made before this migration, and `tally token add NAME`
-- without --user) is a service token with admin rights.
ALTER TABLE tally_meta.api_tokens ADD COLUMN IF NOT EXISTS user_name VARCHAR;
ALTER TABLE tally_meta.api_tokens ADD COLUMN IF NOT EXISTS expires_at TIMESTAMP;
