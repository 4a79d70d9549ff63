-- Matomo parity (issue 20). ip_key: a hash of the visitor's FULL IP with the salt of the
-- hit's local day, made by the loader before the IP is anonymised, so cookieless visitors
-- behind one anonymised network stay apart (Matomo hashes the full IP unless
-- useAnonymizedIpForVisitEnrichment, plugins/PrivacyManager/Config.php). Forgetting the
-- day's salt leaves the hash unlinkable. ecommerce: the order or cart of an ecommerce hit
-- (idgoal=0) as JSON: order id, subtotal, tax, shipping, discount, items.
ALTER TABLE web.hits ADD COLUMN ip_key VARCHAR;
ALTER TABLE web.hits ADD COLUMN ecommerce VARCHAR;
