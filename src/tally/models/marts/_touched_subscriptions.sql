-- The subscriptions of the day's new keys whose users are not recomputed whole: those the
-- extension takes (not a model: pipeline/extension.py _extend, the "touched" table).
SELECT DISTINCT subscription_id
FROM new_keys
WHERE user_id NOT IN (SELECT user_id FROM recomputed_users)
