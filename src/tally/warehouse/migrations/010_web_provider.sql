-- Provider (issue 28): the organisation a visitor's network is registered to (its AS name,
-- from the database bundled with geoip2fast), looked up by the loader from the full address
-- before it is anonymised; the visit takes its first hit's, as it does the country.
ALTER TABLE web.hits ADD COLUMN provider VARCHAR;
ALTER TABLE web.visits ADD COLUMN provider VARCHAR;
