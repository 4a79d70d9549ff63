-- Web reports (issue 7): each action's place in its visit, stored by sessionize so the
-- Transitions, Users flow and page reports are plain joins and aggregates over narrow
-- integer columns instead of numbering every visit's hits at query time.
--
-- visit_key is an integer name of the visit (unique across sites and days):
-- (idsite * 100000 + days since 1970-01-01) * 10000000 + the visit's rank in its site-day.
ALTER TABLE web.actions ADD COLUMN visit_key BIGINT;
-- page views and site searches of the visit up to and including this hit (Transitions)
ALTER TABLE web.actions ADD COLUMN interaction INTEGER;
-- page views of the visit up to and including this hit (Users flow's step of a page view)
ALTER TABLE web.actions ADD COLUMN pageview_number INTEGER;
-- a page view's report label (path and query, no host or fragment; the root is /index)
ALTER TABLE web.actions ADD COLUMN page_label VARCHAR;
-- the label of the visit's next page view (NULL: the visit left after this one)
ALTER TABLE web.actions ADD COLUMN next_page_label VARCHAR;
-- the visit's last interaction before this hit and its first after it (kind 'pageview' or
-- 'search'; label: the page's label or the search keyword; NULL: none), so Transitions is a
-- filter and a count; for an outlink or download, "before" is the page it was clicked on
ALTER TABLE web.actions ADD COLUMN previous_kind VARCHAR;
ALTER TABLE web.actions ADD COLUMN previous_label VARCHAR;
ALTER TABLE web.actions ADD COLUMN next_kind VARCHAR;
ALTER TABLE web.actions ADD COLUMN next_label VARCHAR;
-- seconds to the visit's next hit, pings included (NULL for its last hit): time on page
ALTER TABLE web.actions ADD COLUMN time_spent BIGINT;

ALTER TABLE web.visits ADD COLUMN visit_key BIGINT;
ALTER TABLE web.visits ADD COLUMN entry_label VARCHAR;
ALTER TABLE web.visits ADD COLUMN exit_label VARCHAR;

-- Visits computed before these columns existed lack them: drop them, so the next sessionize
-- run (which finds every hit unplaced) rebuilds every day with them.
DELETE FROM web.conversions;
DELETE FROM web.visits;
DELETE FROM web.actions;
