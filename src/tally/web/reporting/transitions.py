"""``Transitions.getTransitionsForPageUrl``: where a page's views came from and went next.

A visit's interactions are its page views and site searches, in order. For each view of the
page (matched by its report label, so hosts fold as in Actions.getPageUrls, and fragments
unless the site keeps them):

* before it: the previous interaction (a page, a site search), or none: an entry, counted by
  the visit's referrer as Matomo's rows do ("Direct entries", "From search engines", "From
  social networks", "From websites", "From campaigns": ``visits``, and ``details`` naming
  the engine or network, the referrer URL of a website, "name keyword" of a campaign);
* after it: the next interaction (a page, a site search), or none: an exit;
* a loop: the page itself before or after it (a reload), counted once, in neither list;
* outlinks and downloads clicked on the page (after the view, before the next interaction).

So pageviews = loops + previous pages + previous searches + entries
= loops + following pages + following searches + exits. Events are not interactions here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tally.errors import BadInputError
from tally.web.reporting.methods import (
    Query,
    Report,
    Row,
    actions_in_scope,
    method,
    scoped_visits,
)
from tally.web.reporting.periods import Span
from tally.web.reporting.queries import report_sql
from tally.web.sites import get_site

_FRAGMENT = re.compile(r"#.*$", re.S)
_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def label_of(url: str, keep_fragment: bool = False) -> str:
    """The report label of a URL, as sessionize stores it (``web.actions.page_label``,
    computed in ``tally/web/models/actions.sql``): with the fragment, less one trailing '#',
    on a site that keeps URL fragments."""
    url = url.strip()
    path = _ORIGIN.sub("", _FRAGMENT.sub("", url))
    label = "/index" if path in ("", "/") else path
    fragment = url.partition("#")[2].removesuffix("#") if keep_fragment else ""
    return f"{label}#{fragment}" if fragment else label


def _transitions_sql(query: Query) -> tuple[str, list[object]]:
    """Counts of what came before and after each view of the page, of the links clicked on
    it and of the referrers of the visits it opened. Sessionize stored each hit's previous
    and next interaction (``web.actions.previous_*``, ``next_*``), so every part is a filter
    and a count over one scan: no window and no join of actions at query time."""
    join, where, params = actions_in_scope(query)
    visits, visit_params = scoped_visits(query)
    keep = get_site(query.warehouse, query.idsite).keep_url_fragment
    target = label_of(query.params["pageUrl"], keep)
    sql = report_sql("transitions", join=join, where=where, visits=visits)
    return sql, [*params, target, *visit_params, target, target, *params, target]


def _listed(counts: dict[str, int], limit: int = 0) -> list[Row]:
    """``{"label", "referrals"}`` rows, most referrals first; with a ``limit``, the rows past
    it are summed into one "Others" row, as Matomo's RankingQuery does."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    rows: list[Row] = [{"label": label, "referrals": count} for label, count in ordered]
    if limit and len(rows) > limit:
        others = sum(count for _, count in ordered[limit:])
        rows = [*rows[:limit], {"label": "Others", "referrals": others}]
    return rows


def _limit(params: Mapping[str, str]) -> int:
    """``limitBeforeGrouping``: rows kept per list before "Others" (0: all of them; Matomo's
    own default, 5, is not applied: tally folds rows only when asked)."""
    text = params.get("limitBeforeGrouping", "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise BadInputError(
            "limitBeforeGrouping has to be an integer.", field="limitBeforeGrouping"
        )
    return int(text)


@method("Transitions.getTransitionsForPageUrl", single_row=True)
def transitions(query: Query) -> Report:
    """Previous and following pages and searches, outlinks, downloads, referrers, exits and
    loops of the page ``pageUrl`` (any URL of it: its report label is what is matched)."""
    if not query.params.get("pageUrl", "").strip():
        raise BadInputError("Transitions need pageUrl=<the page's URL>", field="pageUrl")
    limit = _limit(query.params)
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
        # a site search keyword as typed, as in Actions.getSiteSearchKeywords
        key = "" if label is None else str(label)
        bucket[key] = bucket.get(key, 0) + int(count)

    def total(side: str, category: str) -> int:
        return sum(found.get((side, category), {}).values())

    entries = total("before", "entry")
    short_date = _short_date(query.span)
    return {
        **({"date": short_date} if short_date else {}),
        "pageMetrics": {
            "pageviews": entries + sum(total("before", c) for c in ("search", "loop", "page")),
            "entries": entries,
            "exits": total("after", "exit"),
            "loops": total("after", "loop"),
        },
        "previousPages": _listed(found.get(("before", "page"), {}), limit),
        "previousSiteSearches": _listed(found.get(("before", "search"), {}), limit),
        "followingPages": _listed(found.get(("after", "page"), {}), limit),
        "followingSiteSearches": _listed(found.get(("after", "search"), {}), limit),
        "outlinks": _listed(found.get(("link", "outlink"), {}), limit),
        "downloads": _listed(found.get(("link", "download"), {}), limit),
        "referrers": _referrer_rows(referrers, limit),
    }


# Matomo's referrer rows, in its order (plugins/Transitions/API.php addExternalReferrers,
# with the labels of its Transitions translations)
TRANSITION_REFERRERS = {
    "direct": "Direct entries",
    "search": "From search engines",
    "social": "From social networks",
    "website": "From websites",
    "campaign": "From campaigns",
}


def _referrer_rows(referrers: dict[str, dict[str, int]], limit: int = 0) -> list[Row]:
    """One row per referrer type that brought entries (``visits``, and the ``details`` by
    name), in Matomo's order; with no entry at all, Matomo's one row of 0 direct entries."""
    rows: list[Row] = []
    for kind in [*TRANSITION_REFERRERS, *sorted(set(referrers) - set(TRANSITION_REFERRERS))]:
        details = referrers.get(kind, {})
        if not details:
            continue
        named = {label: count for label, count in details.items() if label}
        rows.append(
            {
                "label": TRANSITION_REFERRERS.get(kind, kind),
                "shortName": kind,
                "visits": sum(details.values()),
                "details": _listed(named, limit),
            }
        )
    if not rows:
        rows.append({"label": TRANSITION_REFERRERS["direct"], "shortName": "direct", "visits": 0})
    return rows


# English names, whatever the process's locale (strftime's %a and %b follow it)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _short_date(span: Span) -> str | None:
    """Matomo's short name of the period (Period::getLocalizedShortString, English): a
    day "Sat, Mar 6", a month "Mar 2010", a year "2010"; None for weeks and ranges."""
    month = MONTHS[span.start.month - 1]
    if span.period == "day":
        return f"{WEEKDAYS[span.start.weekday()]}, {month} {span.start.day}"
    if span.period == "month":
        return f"{month} {span.start.year}"
    if span.period == "year":
        return str(span.start.year)
    return None
