-- The users of a day whose periods the daily build recomputes from their whole history,
-- because extending their latest period (_extended_periods.sql) may not give the model's
-- periods (not a model: see pipeline/extension.py). Reads new_keys (the subscription and
-- period start of every described row and refund the day brought) and tails (the stored
-- latest periods of the day's users). Known before extending: a user is recomputed when the
-- day's rows reach before a subscription's latest period (a backdated purchase or refund).
-- _unextended_users.sql finds the rest once the extension is made.
WITH touched AS (
    SELECT k.user_id, k.subscription_id, min(k.start_date) AS first_start
    FROM new_keys AS k
    GROUP BY k.user_id, k.subscription_id
)
SELECT t.user_id
FROM touched AS t
LEFT JOIN tails AS l ON l.subscription_id = t.subscription_id
GROUP BY t.user_id
HAVING bool_or(t.first_start < l.period_start)
