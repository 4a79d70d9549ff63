"""Actions.getSiteSearchKeywords: the site's own search box, by keyword."""

from __future__ import annotations

from urllib.parse import quote

from tally.web.reporting.methods import Query, Report, actions_in_scope, method, ratio
from tally.web.reporting.queries import report_sql


@method("Actions.getSiteSearchKeywords")
def search_keywords(query: Query) -> Report:
    """Searches by keyword, in how many visits. The keyword as typed: Matomo keeps its case
    (its OneVisitorTwoVisits system test expects "Banks Own The World")."""
    join, where, params = actions_in_scope(query)
    sql = report_sql("site_search_keywords", join=join, where=where)
    return [
        {
            "label": keyword,
            "nb_visits": int(visits),
            "nb_hits": int(hits),
            # time to the next page view or search (Matomo's time on page, actions.sql)
            "sum_time_spent": int(seconds),
            "avg_time_on_page": ratio(int(seconds), int(hits)),
            "segment": f"siteSearchKeyword=={quote(str(keyword), safe='')}",
        }
        for keyword, visits, hits, seconds in query.warehouse.rows(sql, params)
    ]
