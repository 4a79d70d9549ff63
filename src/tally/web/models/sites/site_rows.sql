-- Sites with their Matomo URL settings (web/sites.py, the one reader of the sites family;
-- a site with Matomo's defaults has no settings row). web/sites.py adds the WHERE or the
-- ORDER BY.
SELECT
    s.idsite, s.name, s.main_url, s.urls, s.timezone, s.created_at, u.excluded_parameters,
    u.sitesearch, u.sitesearch_keyword_parameters, u.sitesearch_category_parameters,
    u.new_visit_on_referrer_change, u.keep_url_fragment
FROM web.sites AS s
LEFT JOIN web.site_url_settings AS u ON u.idsite = s.idsite
