-- Ecommerce (issue 20): an order's id (ec_id) on its hit, so an order tracked twice counts
-- once (Matomo ignores a repeated order id of a site).
ALTER TABLE web.hits ADD COLUMN order_id VARCHAR;
