-- Matomo's per-site "keep page URL fragments" (issue 20; its site column keep_url_fragment,
-- core/Tracker/PageUrl.php shouldRemoveURLFragmentFor): off by default, so the loader drops
-- the part after '#' from the page URL of the hits it loads; on, the fragment stays and
-- page labels show it (/path#fragment). NULL in rows stored before: off, Matomo's default.
ALTER TABLE web.site_url_settings ADD COLUMN keep_url_fragment BOOLEAN;
-- The fragment the loader dropped (NULL: none, or the site keeps it in url): URL goals
-- still see it, as Matomo matches them against the raw URL (core/Tracker/GoalManager.php,
-- detectGoalMatch: getActionUrlRaw).
ALTER TABLE web.hits ADD COLUMN url_fragment VARCHAR;
ALTER TABLE web.actions ADD COLUMN url_fragment VARCHAR;
