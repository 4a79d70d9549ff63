-- The referrer each conversion of the query's visits is credited with (Matomo's
-- log_conversion referer_*, plugins/Referrers/Columns/Base.php getValueForRecordGoal): the
-- campaign of the request's _rcn; else the visit's campaign; else the request's _ref (a
-- search engine, website or social network); else the visit's referrer. The loader stored
-- the request's part on the hit (attributed_*). Counted by {part} (type, name or keyword)
-- where {where}; an abandoned cart (-1) converts nothing.
SELECT {part}, count(*), sum(coalesce(a.revenue, 0))
FROM (
    SELECT
        CASE
            WHEN h.attributed_type = 'campaign' OR v.referrer_type = 'campaign' THEN 'campaign'
            ELSE coalesce(h.attributed_type, v.referrer_type, 'direct')
        END AS type,
        CASE
            WHEN h.attributed_type = 'campaign' THEN h.attributed_name
            WHEN v.referrer_type = 'campaign' THEN lower(v.campaign_name)
            WHEN h.attributed_type IS NOT NULL THEN h.attributed_name
            ELSE v.referrer_name
        END AS name,
        CASE
            WHEN h.attributed_type = 'campaign' THEN h.attributed_keyword
            WHEN v.referrer_type = 'campaign' THEN v.campaign_keyword
            WHEN h.attributed_type IS NOT NULL THEN h.attributed_keyword
            ELSE v.referrer_keyword
        END AS keyword,
        c.revenue
    FROM web.conversions AS c
    JOIN ({visits}) AS v ON v.idvisit = c.idvisit
    JOIN web.hits AS h ON h.hit_id = c.hit_id
    WHERE c.idgoal >= 0
) AS a
WHERE {where}
GROUP BY 1
