-- A cluster scope (web/sessions.py CLUSTER_SCOPES): the cookieless salts of the dirty
-- days (t, web.visitor_salts).
t.salt_date IN (SELECT local_date FROM web.dirty_days)
