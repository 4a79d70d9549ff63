"""Actions.getSiteSearchKeywords: the site's own search box, by keyword."""

from __future__ import annotations

from urllib.parse import quote

from tally.web.reporting.methods import Query, Report, actions_in_scope, method, ratio


@method("Actions.getSiteSearchKeywords")
def search_keywords(query: Query) -> Report:
    """Searches by keyword, in how many visits. The keyword as typed: Matomo keeps its case
    (its OneVisitorTwoVisits system test expects "Banks Own The World")."""
    join, where, params = actions_in_scope(query)
    sql = (
        "SELECT a.search_keyword, count(DISTINCT a.idvisit), count(*), "
        "coalesce(sum(a.time_spent), 0) "
        f"FROM web.actions AS a {join} "
        f"WHERE {where} AND a.kind = 'search' AND a.search_keyword IS NOT NULL "
        "GROUP BY 1 ORDER BY 2 DESC, 3 DESC, 1"
    )
    return [
        {
            "label": keyword,
            "nb_visits": int(visits),
            "nb_hits": int(hits),
            # time to the next page view or search (Matomo's time on page, steps.sql)
            "sum_time_spent": int(seconds),
            "avg_time_on_page": ratio(int(seconds), int(hits)),
            "segment": f"siteSearchKeyword=={quote(str(keyword), safe='')}",
        }
        for keyword, visits, hits, seconds in query.warehouse.rows(sql, params)
    ]
