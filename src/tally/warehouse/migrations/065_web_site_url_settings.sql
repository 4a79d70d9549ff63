-- Matomo's per-site URL settings (issue 20; plugins/SitesManager), one row per site that
-- changed them (no row: the defaults): query parameters to drop from tracked page URLs
-- (comma-separated, besides Matomo's own list), and site search read from page URLs, on by
-- default, with the site's keyword and category parameters (comma-separated; NULL:
-- Matomo's defaults). The loader applies them to hits loaded after a change, as Matomo's
-- tracker applies them to requests tracked after one. new_visit_on_referrer_change is
-- Matomo's create_new_visit_when_website_referrer_changes ([Tracker] or [Tracker_<idsite>]
-- in its config; off by default): a hit from another website than the visit's referrer
-- opens a new visit (sessionize reads it). A table of its own, so web.sites keeps its
-- columns.
CREATE TABLE IF NOT EXISTS web.site_url_settings (
    idsite INTEGER NOT NULL PRIMARY KEY,
    excluded_parameters VARCHAR,
    sitesearch BOOLEAN NOT NULL,
    sitesearch_keyword_parameters VARCHAR,
    sitesearch_category_parameters VARCHAR,
    new_visit_on_referrer_change BOOLEAN NOT NULL
);
