-- The viu-cms source's default query (sources/viu_cms.py), for the CMS schema documented in
-- docs/sources.md; configure another for yours (sources.viu-cms.query), naming its columns
-- as these. Bound: until (the last release day the export lists).
SELECT
    s.id AS series_id,
    s.title AS series_title,
    e.id AS episode_id,
    e.number AS episode_number,
    e.title AS episode_title,
    l.country,
    l.window_start AS licence_start,
    l.window_end AS licence_end,
    l.release_date
FROM cms_series s
JOIN cms_episodes e ON e.series_id = s.id
JOIN cms_licences l ON l.episode_id = e.id
WHERE l.release_date <= :until
ORDER BY l.release_date, s.id, e.number, l.country
