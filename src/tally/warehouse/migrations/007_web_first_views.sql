-- Web reports (issue 7): whether a page view is its visit's first view of that page label,
-- so Actions.getPageUrls counts a page's visits with a plain count instead of a distinct
-- count over (label, visit), the costliest part of a year's page report.
ALTER TABLE web.actions ADD COLUMN first_view_of_page BOOLEAN;

-- Computed rows lack it: drop them, so the next sessionize run rebuilds every day.
DELETE FROM web.conversions;
DELETE FROM web.visits;
DELETE FROM web.actions;
