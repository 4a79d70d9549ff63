-- Page views grouped by label (URL label or title), with the entries and exits of
-- those pages: Actions.getPageUrls / getPageTitles (web/reporting/methods.py _pages).
-- label, visits_sql, entry, leaving: label and distinct-visit expressions;
-- join, where: the actions in scope; visits: the scoped visits.
WITH views AS (
    SELECT
        {label} AS label,
        count(*) AS nb_hits,
        {visits_sql} AS nb_visits,
        coalesce(sum(a.time_spent), 0) AS seconds,
        min(a.url) AS url
    FROM web.actions AS a
    {join}
    WHERE {where} AND a.kind = 'pageview'
    GROUP BY 1
),
v AS ({visits}),
entries AS (
    SELECT
        {entry} AS label,
        count(*) AS visits,
        sum(v.actions) AS actions,
        sum(v.duration_seconds) AS seconds,
        sum(CASE WHEN v.actions <= 1 THEN 1 ELSE 0 END) AS bounces
    FROM v WHERE v.pageviews > 0 GROUP BY 1
),
exits AS (
    SELECT {leaving} AS label, count(*) AS visits
    FROM v WHERE v.pageviews > 0 GROUP BY 1
)
SELECT
    w.label, w.nb_hits, w.nb_visits, w.seconds, coalesce(e.visits, 0),
    coalesce(e.actions, 0), coalesce(e.seconds, 0), coalesce(e.bounces, 0),
    coalesce(x.visits, 0), w.url
FROM views AS w
LEFT JOIN entries AS e ON e.label = w.label
LEFT JOIN exits AS x ON x.label = w.label
ORDER BY w.nb_visits DESC, w.nb_hits DESC, w.label
