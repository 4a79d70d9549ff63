-- The extension's "new_known" step (not a model: pipeline/extension.py extended_sql), which
-- the model's "first_known" reads in place of "known": a stand-in goes before a
-- subscription's first period, so only new subscriptions (none stored in tails) get one,
-- and only their periods are numbered (the window carries every column of its rows: at 1M
-- subscriptions the day's ~24,000 periods, ~0.02 CPU s of the step, one-off figures beside
-- benchmarks/daily_build_profile.py's "extended" statement).
SELECT * FROM known WHERE subscription_id NOT IN (SELECT subscription_id FROM tails)
