"""Actions.getSiteSearchKeywords: the site's own search box, by keyword."""

from __future__ import annotations

from urllib.parse import quote

from tally.web.reporting.methods import Query, Report, actions_in_scope, method


@method("Actions.getSiteSearchKeywords")
def search_keywords(query: Query) -> Report:
    """Searches by keyword (as typed, lower-cased as Matomo does), in how many visits."""
    join, where, params = actions_in_scope(query)
    sql = (
        "SELECT lower(a.search_keyword), count(DISTINCT a.idvisit), count(*) "
        f"FROM web.actions AS a {join} "
        f"WHERE {where} AND a.kind = 'search' AND a.search_keyword IS NOT NULL "
        "GROUP BY 1 ORDER BY 2 DESC, 3 DESC, 1"
    )
    return [
        {
            "label": keyword,
            "nb_visits": int(visits),
            "nb_hits": int(hits),
            "segment": f"siteSearchKeyword=={quote(str(keyword), safe='')}",
        }
        for keyword, visits, hits in query.warehouse.rows(sql, params)
    ]
