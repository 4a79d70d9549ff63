-- The content window report (reports/seedreports.py): new subscribers in the days before
-- and after each episode release. Parameters: country, last day.
SELECT
    series_title, episode_number, release_date, subscribers_before, subscribers_after,
    days_before, days_after
FROM marts.content_window
WHERE country = ? AND release_date <= ?
ORDER BY release_date, series_title, episode_number
