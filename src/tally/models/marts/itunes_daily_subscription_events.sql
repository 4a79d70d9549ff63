-- Apple's subscription events per day, country, subscription and event.
-- A flow: each row of Apple's report counts `Quantity` identical events on its Event Date
-- (Apple's day is Pacific time); summing Quantity gives the events of that day.
SELECT
    event_date,
    country,
    subscription_name,
    subscription_apple_id,
    event,
    sum(quantity) AS events,
    count(*) AS report_rows
FROM staging.itunes_subscription_events
GROUP BY event_date, country, subscription_name, subscription_apple_id, event
