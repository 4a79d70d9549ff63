-- A site's Matomo URL settings row (web/sites.py, _store_settings; written only when the
-- site differs from Matomo's defaults).
INSERT INTO web.site_url_settings (
    idsite, excluded_parameters, sitesearch, sitesearch_keyword_parameters,
    sitesearch_category_parameters, new_visit_on_referrer_change, keep_url_fragment
)
VALUES (?, ?, ?, ?, ?, ?, ?)
