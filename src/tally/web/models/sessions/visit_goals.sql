-- Each visit's conversions, revenue and goals (visits.sql and sorted_visits.sql).
goals AS (
    SELECT
        c.idvisit,
        count(*) AS conversions,
        sum(coalesce(c.revenue, 0)) AS revenue,
        string_agg(DISTINCT CAST(c.idgoal AS VARCHAR), ',' ORDER BY CAST(c.idgoal AS VARCHAR))
            AS goals
    FROM web.conversions AS c
    JOIN web.dirty_days AS d ON d.idsite = c.idsite AND d.local_date = c.local_date
    WHERE c.idgoal >= 0  -- an abandoned cart (-1) converts nothing
    GROUP BY c.idvisit
)
