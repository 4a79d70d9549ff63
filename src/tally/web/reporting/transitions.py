"""``Transitions.getTransitionsForPageUrl``: where a page's views came from and went next.

A visit's interactions are its page views and site searches, in order. For each view of the
page (matched by its report label, so hosts and fragments fold as in Actions.getPageUrls):

* before it: the previous interaction (a page, a site search), or none: an entry, counted by
  the visit's referrer (Direct Entry, Search Engines, Websites, Campaigns, Social Networks);
* after it: the next interaction (a page, a site search), or none: an exit;
* a loop: the page itself before or after it (a reload), counted once, in neither list;
* outlinks and downloads clicked on the page (after the view, before the next interaction).

So pageviews = loops + previous pages + previous searches + entries
= loops + following pages + following searches + exits. Events are not interactions here.
"""

from __future__ import annotations

import re

from tally.errors import BadInputError
from tally.web.reporting.methods import (
    REFERRER_TYPES,
    Query,
    Report,
    Row,
    actions_in_scope,
    method,
    page_label,
    scoped_visits,
)

STEP_KINDS = "('pageview', 'search', 'outlink', 'download')"
_FRAGMENT = re.compile(r"#.*$", re.S)
_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def label_of(url: str) -> str:
    """The report label of a URL, as ``methods.page_label`` computes it in SQL."""
    path = _ORIGIN.sub("", _FRAGMENT.sub("", url.strip()))
    return "/index" if path in ("", "/") else path


def _narrowing(label: str) -> tuple[str, list[object]]:
    """A cheap test every URL of the page passes, run before the regular expressions."""
    if label == "/index":
        return "TRUE", []
    return "strpos(a.url, ?) > 0", [label]


def _visit_key(query: Query) -> str:
    """What the window partitions by: on DuckDB a 64-bit hash of the visit id (sorts faster
    than the 32-character id; a shared hash between two visits is a one-in-ten-million
    chance in a year), the id itself elsewhere."""
    return "hash(a.idvisit)" if query.warehouse.capabilities.name == "duckdb" else "a.idvisit"


def _transitions_sql(query: Query) -> tuple[str, list[object]]:
    join, where, params = actions_in_scope(query)
    visits, visit_params = scoped_visits(query)
    span = [query.idsite, query.span.start, query.span.end]
    target = label_of(query.params["pageUrl"])
    narrow, narrow_params = _narrowing(target)
    sql = f"""
        WITH chosen AS (
            SELECT DISTINCT a.idvisit FROM web.actions AS a {join}
            WHERE {where} AND a.kind = 'pageview' AND {narrow}
                AND {page_label("a.url")} = ?
        ),
        steps AS (
            SELECT a.idvisit, {_visit_key(query)} AS visit, a.position, a.kind, a.link_url,
                a.search_keyword,
                CASE WHEN a.kind = 'pageview' THEN {page_label("a.url")} END AS page
            FROM web.actions AS a JOIN chosen AS c ON c.idvisit = a.idvisit
            WHERE a.idsite = ? AND a.local_date >= ? AND a.local_date <= ?
                AND a.kind IN {STEP_KINDS}
        ),
        interactions AS (
            SELECT s.*,
                lag(s.kind) OVER w AS before_kind, lag(s.page) OVER w AS before_page,
                lag(s.search_keyword) OVER w AS before_keyword,
                lead(s.kind) OVER w AS after_kind, lead(s.page) OVER w AS after_page,
                lead(s.search_keyword) OVER w AS after_keyword
            FROM steps AS s WHERE s.kind IN ('pageview', 'search')
            WINDOW w AS (PARTITION BY s.visit ORDER BY s.position)
        ),
        views AS (SELECT * FROM interactions WHERE page = ?),
        links AS (
            SELECT l.kind, l.link_url,
                (SELECT max(p.position) FROM steps AS p WHERE p.idvisit = l.idvisit
                    AND p.position < l.position AND p.kind IN ('pageview', 'search')) AS on_step,
                l.idvisit
            FROM steps AS l WHERE l.kind IN ('outlink', 'download')
        ),
        v AS ({visits})
        SELECT 'before', CASE WHEN w.before_kind IS NULL THEN 'entry'
                WHEN w.before_kind = 'search' THEN 'search'
                WHEN w.before_page = w.page THEN 'loop' ELSE 'page' END,
            CASE WHEN w.before_kind = 'search' THEN w.before_keyword ELSE w.before_page END,
            count(*)
        FROM views AS w GROUP BY 1, 2, 3
        UNION ALL
        SELECT 'after', CASE WHEN w.after_kind IS NULL THEN 'exit'
                WHEN w.after_kind = 'search' THEN 'search'
                WHEN w.after_page = w.page THEN 'loop' ELSE 'page' END,
            CASE WHEN w.after_kind = 'search' THEN w.after_keyword ELSE w.after_page END,
            count(*)
        FROM views AS w GROUP BY 1, 2, 3
        UNION ALL
        SELECT 'link', l.kind, l.link_url, count(*)
        FROM links AS l JOIN views AS w ON w.idvisit = l.idvisit AND w.position = l.on_step
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT 'referrer', coalesce(v.referrer_type, 'direct'),
            CASE WHEN v.referrer_type = 'campaign' THEN lower(v.campaign_name)
                ELSE v.referrer_name END,
            count(*)
        FROM views AS w JOIN v ON v.idvisit = w.idvisit
        WHERE w.before_kind IS NULL GROUP BY 1, 2, 3
    """
    return sql, [*params, *narrow_params, target, *span, target, *visit_params]


def _listed(counts: dict[str, int]) -> list[Row]:
    """``{"label", "referrals"}`` rows, most referrals first."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"label": label, "referrals": count} for label, count in ordered]


@method("Transitions.getTransitionsForPageUrl", single_row=True)
def transitions(query: Query) -> Report:
    """Previous and following pages and searches, outlinks, downloads, referrers, exits and
    loops of the page ``pageUrl`` (any URL of it: its report label is what is matched)."""
    if not query.params.get("pageUrl", "").strip():
        raise BadInputError("Transitions need pageUrl=<the page's URL>", field="pageUrl")
    sql, params = _transitions_sql(query)
    found: dict[tuple[str, str], dict[str, int]] = {}
    referrers: dict[str, dict[str, int]] = {}
    for side, category, label, count in query.warehouse.rows(sql, params):
        if side == "referrer":
            details = referrers.setdefault(str(category), {})
            key = "" if label is None else str(label)
            details[key] = details.get(key, 0) + int(count)
            continue
        bucket = found.setdefault((str(side), str(category)), {})
        key = "" if label is None else str(label)
        bucket[key] = bucket.get(key, 0) + int(count)

    def total(side: str, category: str) -> int:
        return sum(found.get((side, category), {}).values())

    entries = total("before", "entry")
    return {
        "pageMetrics": {
            "pageviews": entries + sum(total("before", c) for c in ("search", "loop", "page")),
            "entries": entries,
            "exits": total("after", "exit"),
            "loops": total("after", "loop"),
        },
        "previousPages": _listed(found.get(("before", "page"), {})),
        "previousSiteSearches": _listed(found.get(("before", "search"), {})),
        "followingPages": _listed(found.get(("after", "page"), {})),
        "followingSiteSearches": _listed(found.get(("after", "search"), {})),
        "outlinks": _listed(found.get(("link", "outlink"), {})),
        "downloads": _listed(found.get(("link", "download"), {})),
        "referrers": _referrer_rows(referrers),
    }


def _referrer_rows(referrers: dict[str, dict[str, int]]) -> list[Row]:
    rows: list[Row] = []
    for kind, details in referrers.items():
        named = {label: count for label, count in details.items() if label}
        rows.append(
            {
                "label": REFERRER_TYPES.get(kind, kind),
                "shortName": kind,
                "referrals": sum(details.values()),
                "details": _listed(named),
            }
        )
    rows.sort(key=lambda row: (-int(row["referrals"]), str(row["label"])))  # type: ignore[call-overload]
    return rows
