-- An action dimension's segment condition over v (web.visits): the visit holds an action
-- of a kind that passes the test (web/reporting/segments.py). Filled in by report_sql:
-- test (over a). Parameters: the kind, then the test's.
EXISTS (SELECT 1 FROM web.actions AS a
    WHERE a.idvisit = v.idvisit AND a.idsite = v.idsite AND a.local_date = v.local_date
        AND a.kind = ? AND {test})
