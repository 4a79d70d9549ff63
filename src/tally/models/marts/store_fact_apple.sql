-- Apple's own subscription event counts in report_fact's long layout (the same columns), a
-- table of its own so that report_fact never waits for Apple's reports: the build skips this
-- model until the SUBSCRIPTION_EVENT report is loaded, and builds report_fact regardless.
--   type            'store_apple_event': a flow, the events Apple counted (sum of Quantity,
--                   marts.itunes_daily_subscription_events) on Apple's Event Date, which is
--                   a Pacific-time day (not the country's day report_fact uses)
--   resolution_type 'daily'; 'weekly' (ISO week, start_date its Monday) and 'monthly'
--                   (start_date the 1st) are sums of the daily counts
--   country         Apple's Country; platform 'iOS IAP'
--   meta_1 Subscription Apple ID, meta_2 Subscription Name, meta_3 Apple's Event
--   ('Start Introductory Offer', 'Renew', 'Cancel', ...); meta_4 .. meta_8 NULL.
-- Rows whose value is 0 are left out, as in report_fact.
WITH daily AS (
    SELECT event_date AS day, country, subscription_apple_id, subscription_name, event, events
    FROM marts.itunes_daily_subscription_events
),
resolved AS (
    SELECT 'daily' AS resolution_type, day AS start_date, country, subscription_apple_id,
        subscription_name, event, events
    FROM daily
    UNION ALL
    SELECT 'weekly', CAST(date_trunc('week', day) AS DATE), country, subscription_apple_id,
        subscription_name, event, events
    FROM daily
    UNION ALL
    SELECT 'monthly', CAST(date_trunc('month', day) AS DATE), country, subscription_apple_id,
        subscription_name, event, events
    FROM daily
)
SELECT
    CAST('store_apple_event' AS VARCHAR) AS type,
    CAST(resolution_type AS VARCHAR) AS resolution_type,
    CAST(country AS VARCHAR) AS country,
    CAST('iOS IAP' AS VARCHAR) AS platform,
    CAST(start_date AS DATE) AS start_date,
    CAST(subscription_apple_id AS VARCHAR) AS meta_1,
    CAST(subscription_name AS VARCHAR) AS meta_2,
    CAST(event AS VARCHAR) AS meta_3,
    CAST(NULL AS VARCHAR) AS meta_4,
    CAST(NULL AS VARCHAR) AS meta_5,
    CAST(NULL AS VARCHAR) AS meta_6,
    CAST(NULL AS VARCHAR) AS meta_7,
    CAST(NULL AS VARCHAR) AS meta_8,
    CAST(sum(events) AS DOUBLE) AS value
FROM resolved
GROUP BY resolution_type, start_date, country, subscription_apple_id, subscription_name, event
HAVING sum(events) <> 0
