-- Dashboard users (issue 8): an argon2 hash of each password, never the password itself.
-- is_admin users see and manage everything; others see the web analytics of the sites
-- granted to them in tally_meta.user_sites.
CREATE TABLE IF NOT EXISTS tally_meta.users (
    name VARCHAR NOT NULL PRIMARY KEY,
    password_hash VARCHAR NOT NULL,
    is_admin BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    password_changed_at TIMESTAMP NOT NULL
);

-- Per-site rights: 'view' (read the site's reports) or 'admin' (also change the site).
CREATE TABLE IF NOT EXISTS tally_meta.user_sites (
    name VARCHAR NOT NULL,
    idsite INTEGER NOT NULL,
    rights VARCHAR NOT NULL,
    PRIMARY KEY (name, idsite)
);
