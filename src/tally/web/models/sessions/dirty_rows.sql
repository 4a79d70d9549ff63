-- A cluster scope (web/sessions.py CLUSTER_SCOPES): the rows of t (web.actions,
-- web.conversions, web.visits) in a dirty site-day.
EXISTS (
    SELECT 1 FROM web.dirty_days AS d
    WHERE d.idsite = t.idsite AND d.local_date = t.local_date
)
