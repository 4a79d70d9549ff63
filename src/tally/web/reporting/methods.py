"""Reporting API methods by Matomo's names, each computed from web.visits and web.actions.

A method gets a ``Query`` (one site, one span, a compiled segment, the request's other
parameters) and returns Matomo's shape: one dict for a single-row report such as
``VisitsSummary.get``, or a list of row dicts for a table report. Every query starts from
``scoped_visits``: the visits of the site and span that the segment keeps, so a segment
narrows action reports too (an action counts when its visit is in the segment).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote, urlsplit

from tally.errors import BadInputError
from tally.warehouse import Warehouse
from tally.web.reporting.periods import Span
from tally.web.reporting.queries import report_sql
from tally.web.reporting.segments import Compiled

Row = dict[str, object]
Report = Row | list[Row]


@dataclass(frozen=True)
class Query:
    """One method call for one site and one period."""

    warehouse: Warehouse
    idsite: int
    span: Span
    segment: Compiled = field(default_factory=Compiled)
    params: Mapping[str, str] = field(default_factory=dict)
    now: dt.datetime | None = None  # naive UTC; default: the clock (Live methods)


@dataclass(frozen=True)
class Method:
    name: str
    function: Callable[[Query], Report]
    single_row: bool  # Matomo answers one object (not a table) for this method
    periodless: bool  # takes no period/date (Live methods use lastMinutes instead)


METHODS: dict[str, Method] = {}


def method(
    name: str, *, single_row: bool = False, periodless: bool = False
) -> Callable[[Callable[[Query], Report]], Callable[[Query], Report]]:
    """Register the decorated function under Matomo's method ``name``."""

    def register(function: Callable[[Query], Report]) -> Callable[[Query], Report]:
        METHODS[name] = Method(name, function, single_row, periodless)
        return function

    return register


def find(name: str) -> Method:
    """The method called ``name`` (e.g. ``VisitsSummary.get``)."""
    try:
        return METHODS[name]
    except KeyError:
        raise BadInputError(
            f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}", field="method"
        ) from None


# -- shared SQL --------------------------------------------------------------------------


def scoped_visits(query: Query) -> tuple[str, list[object]]:
    """SQL (and parameters) of the visits of the query's site and span in its segment."""
    sql = (
        "SELECT v.* FROM web.visits AS v WHERE v.idsite = ? "
        f"AND v.local_date >= ? AND v.local_date <= ? AND ({query.segment.sql})"
    )
    return sql, [query.idsite, query.span.start, query.span.end, *query.segment.params]


# The visit metrics Matomo reports for every visit dimension (referrers, devices, countries).
VISIT_METRICS = """
    count(*) AS nb_visits,
    count(DISTINCT v.visitor_key) AS nb_uniq_visitors,
    count(DISTINCT v.user_id) AS nb_users,
    coalesce(sum(v.actions), 0) AS nb_actions,
    coalesce(max(v.actions), 0) AS max_actions,
    coalesce(sum(v.duration_seconds), 0) AS sum_visit_length,
    coalesce(sum(CASE WHEN v.actions <= 1 THEN 1 ELSE 0 END), 0) AS bounce_count,
    coalesce(sum(CASE WHEN v.conversions > 0 THEN 1 ELSE 0 END), 0) AS nb_visits_converted
"""
VISIT_METRIC_NAMES = (
    "nb_visits",
    "nb_uniq_visitors",
    "nb_users",
    "nb_actions",
    "max_actions",
    "sum_visit_length",
    "bounce_count",
    "nb_visits_converted",
)


def rounded(value: float, digits: int = 0) -> int | float:
    """PHP's round() (half away from zero), as Matomo rounds; whole numbers come back int.
    Like PHP, the value is first taken to 15 significant digits, so 3111.11 / 2 (held as
    1555.5549999...) rounds to 1555.56."""
    step = Decimal(1).scaleb(-digits)
    result = Decimal(format(value, ".15g")).quantize(step, rounding=ROUND_HALF_UP)
    return int(result) if result == result.to_integral_value() else float(result)


def ratio(part: float, whole: float, digits: int = 0) -> int | float:
    """part / whole rounded, 0 when whole is 0 (Matomo's getQuotientSafe)."""
    return rounded(part / whole, digits) if whole else 0


def percent(part: float, whole: float) -> str:
    """A share as Matomo writes rates: ``"50%"`` (whole percent)."""
    return f"{ratio(100 * part, whole)}%"


def by_visit_dimension(
    query: Query, expression: str, where: str = "TRUE"
) -> list[tuple[Any, dict[str, int]]]:
    """(dimension value, visit metrics) for each value of ``expression`` over the visits."""
    visits, params = scoped_visits(query)
    sql = report_sql(
        "visit_dimension", expression=expression, metrics=VISIT_METRICS, visits=visits, where=where
    )
    found = []
    for dimension, *metrics in query.warehouse.rows(sql, params):
        found.append(
            (
                dimension,
                {name: int(value) for name, value in zip(VISIT_METRIC_NAMES, metrics, strict=True)},
            )
        )
    return found


def _segment_value(text: object) -> str:
    return quote(str(text), safe="")


# -- VisitsSummary -----------------------------------------------------------------------


@method("VisitsSummary.get", single_row=True)
def visits_summary(query: Query) -> Report:
    """Visits, unique visitors, users, actions, bounces and time of the period."""
    visits, params = scoped_visits(query)
    names_values = query.warehouse.rows(f"SELECT {VISIT_METRICS} FROM ({visits}) AS v", params)[0]
    totals = {
        name: int(value or 0) for name, value in zip(VISIT_METRIC_NAMES, names_values, strict=True)
    }
    return summary_row(totals)


def summary_by_period(query: Query, unit: str) -> dict[dt.date, Row]:
    """VisitsSummary.get's row for each ``unit`` (day, week, month, year) of the query's
    span, by the period's first day, in one query (a dashboard's evolution graph)."""
    if unit not in ("day", "week", "month", "year"):
        raise BadInputError(f"no period unit {unit!r}", field="period")
    start = f"CAST(date_trunc('{unit}', v.local_date) AS DATE)"
    return {
        day: summary_row(totals)
        for day, totals in by_visit_dimension(query, start)
        if isinstance(day, dt.date)
    }


def summary_row(totals: Mapping[str, int]) -> Row:
    """VisitsSummary.get's answer from the visit metrics (``VISIT_METRIC_NAMES``)."""
    count = totals["nb_visits"]
    return {
        "nb_uniq_visitors": totals["nb_uniq_visitors"],
        "nb_users": totals["nb_users"],
        "nb_visits": count,
        "nb_actions": totals["nb_actions"],
        "nb_visits_converted": totals["nb_visits_converted"],
        "bounce_count": totals["bounce_count"],
        "sum_visit_length": totals["sum_visit_length"],
        "max_actions": totals["max_actions"],
        "bounce_rate": percent(totals["bounce_count"], count),
        "nb_actions_per_visit": ratio(totals["nb_actions"], count, 1),
        "avg_time_on_site": ratio(totals["sum_visit_length"], count),
    }


# -- Referrers, devices, countries -------------------------------------------------------

REFERRER_TYPES = {
    "direct": "Direct Entry",
    "search": "Search Engines",
    "website": "Websites",
    "campaign": "Campaigns",
    "social": "Social Networks",
}


# The referrer a conversion is credited with (Matomo's log_conversion referer_*, from
# plugins/Referrers/Columns/Base.php getValueForRecordGoal): the campaign of the request's
# _rcn; else the visit's campaign; else the request's _ref (search engine, website, social
# network); else the visit's referrer. The loader stored the request's part on the hit.
def _conversions_by(query: Query, kind: str | None, part: str) -> dict[object, tuple[int, float]]:
    """{type / name / keyword: (conversions, revenue)} of the conversions credited to a
    referrer of ``kind`` (any kind when None); an abandoned cart converts nothing."""
    visits, params = scoped_visits(query)
    # kind and part are the callers' constants, never request text
    where = f"a.type = '{kind}'" if kind is not None else "TRUE"
    sql = report_sql("conversion_referrers", visits=visits, part=f"a.{part}", where=where)
    return {
        value: (int(count), float(revenue or 0))
        for value, count, revenue in query.warehouse.rows(sql, params)
    }


def _with_conversions(
    rows: Sequence[tuple[object, Mapping[str, object]]], credited: dict[object, tuple[int, float]]
) -> list[tuple[object, Row]]:
    """Each row's nb_conversions and revenue (Matomo shows them on rows with conversions),
    and a row with no visits for a referrer that only conversions were credited to."""
    found: list[tuple[object, Row]] = []
    for value, metrics in rows:
        count, revenue = credited.pop(value, (0, 0.0))
        row: Row = dict(metrics)
        if count:
            row.update(nb_conversions=count, revenue=rounded(revenue, 2))
        found.append((value, row))
    for value, (count, revenue) in sorted(credited.items(), key=lambda item: str(item[0])):
        found.append(
            (value, {"nb_visits": 0, "nb_conversions": count, "revenue": rounded(revenue, 2)})
        )
    return found


@method("Referrers.getReferrerType")
def referrer_types(query: Query) -> Report:
    """Visits by channel: direct entry, search engines, websites, campaigns, social; with the
    conversions credited to each."""
    rows = []
    visits = [
        (str(kind or "direct"), metrics)
        for kind, metrics in by_visit_dimension(query, "v.referrer_type")
    ]
    for code, metrics in _with_conversions(visits, _conversions_by(query, None, "type")):
        rows.append(
            {
                "label": REFERRER_TYPES.get(str(code), str(code)),
                **metrics,
                "segment": f"referrerType=={_segment_value(code)}",
            }
        )
    return rows


@method("Referrers.getWebsites")
def referrer_websites(query: Query) -> Report:
    """Visits that came from a link on another website, by that site's host."""
    visits = by_visit_dimension(query, "v.referrer_name", "v.referrer_type = 'website'")
    return [
        {"label": name, **metrics, "segment": f"referrerName=={_segment_value(name)}"}
        for name, metrics in _with_conversions(visits, _conversions_by(query, "website", "name"))
    ]


def _referrers_of(query: Query, kind: str, column: str, segment_name: str, missing: str) -> Report:
    """Visits of one referrer type (search, campaign, social) by ``column``; a row's segment
    names the type too, as Matomo's does (``referrerType==search;referrerKeyword==...``)."""
    part = "keyword" if "keyword" in column else "name"
    visits = by_visit_dimension(query, column, f"v.referrer_type = '{kind}'")
    return [
        {
            "label": value if value not in (None, "") else missing,
            **metrics,
            "segment": f"referrerType=={kind};{segment_name}=={_segment_value(value or '')}",
        }
        for value, metrics in _with_conversions(visits, _conversions_by(query, kind, part))
    ]


@method("Referrers.getSearchEngines")
def search_engines(query: Query) -> Report:
    """Visits from search engines, by engine."""
    return _referrers_of(query, "search", "v.referrer_name", "referrerName", "Unknown")


@method("Referrers.getKeywords")
def search_keywords(query: Query) -> Report:
    """Visits from search engines, by keyword (most engines hide it now)."""
    return _referrers_of(
        query, "search", "v.referrer_keyword", "referrerKeyword", "Keyword not defined"
    )


@method("Referrers.getCampaigns")
def campaigns(query: Query) -> Report:
    """Visits from campaigns, by campaign name (lower-cased, as Matomo stores it); a row's
    segment names it as Matomo's does (``referrerName==``: a campaign visit's referrer name
    is its campaign's)."""
    return _referrers_of(query, "campaign", "lower(v.campaign_name)", "referrerName", "Unknown")


@method("Referrers.getSocials")
def socials(query: Query) -> Report:
    """Visits from social networks, by network."""
    return _referrers_of(query, "social", "v.referrer_name", "referrerName", "Unknown")


def device_type_label(code: object) -> str:
    """Matomo's label of a device-detector type: ``smartphone`` → ``Smartphone``, ``tv`` →
    ``Tv`` (its English translation); a bot has no device type in Matomo: ``Unknown``."""
    if not code or code == "bot":
        return "Unknown"
    text = str(code)
    return text[:1].upper() + text[1:]


# Matomo lists every device type it knows, visited or not (DevicesDetection.getType)
DEVICE_TYPES = (
    "desktop", "smartphone", "tablet", "feature phone", "console", "tv", "car browser",
    "smart display", "camera", "portable media player", "phablet", "smart speaker", "wearable",
    "peripheral",
)  # fmt: skip


@method("DevicesDetection.getType")
def device_types(query: Query) -> Report:
    """Visits by device type (desktop, smartphone, tablet, ...); types without visits are
    listed with zeros, after the visited ones, as Matomo does."""
    found = dict(by_visit_dimension(query, "v.device_type"))
    zeros: Row = dict.fromkeys(VISIT_METRIC_NAMES, 0)
    codes = list(found) + [code for code in DEVICE_TYPES if code not in found]
    return [
        {
            "label": device_type_label(code),
            **found.get(code, zeros),
            "segment": f"deviceType=={_segment_value(code or '')}",
        }
        for code in codes
    ]


@method("UserCountry.getCountry")
def countries(query: Query) -> Report:
    """Visits by country (of the IP, from the database shipped with geoip2fast)."""
    rows = []
    for code, metrics in by_visit_dimension(query, "upper(v.country)"):
        lower = str(code).lower() if code else "xx"  # Matomo's code for "unknown"
        rows.append(
            {
                "label": str(code) if code else "Unknown",
                **metrics,
                "code": lower,
                "segment": f"countryCode=={lower}",
            }
        )
    return rows


# -- VisitTime ---------------------------------------------------------------------------

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ADDITIVE = ("nb_visits", "nb_actions", "sum_visit_length", "bounce_count", "nb_visits_converted")


@method("VisitTime.getByDayOfWeek")
def by_day_of_week(query: Query) -> Report:
    """Visits by the site's local day of the week, all seven days, Monday first."""
    totals = {day: dict.fromkeys(ADDITIVE, 0) for day in range(7)}
    most = dict.fromkeys(range(7), 0)
    for local_date, metrics in by_visit_dimension(query, "v.local_date"):
        day = _as_date(local_date).weekday()
        for name in ADDITIVE:
            totals[day][name] += metrics[name]
        most[day] = max(most[day], metrics["max_actions"])
    return [
        {
            "label": WEEKDAYS[day],
            **totals[day],
            "max_actions": most[day],
            "day_of_week": day + 1,
        }
        for day in range(7)
    ]


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


# -- Actions -----------------------------------------------------------------------------


def actions_in_scope(query: Query, alias: str = "a") -> tuple[str, str, list[object]]:
    """(JOIN, WHERE, parameters) limiting ``web.actions AS alias`` to the query's visits.

    Without a segment the site and local dates alone select exactly the period's visits'
    actions, so the join to the visits is skipped; with one, the join is on the integer
    visit key (much cheaper to hash than the 32-character visit id).
    """
    where = f"{alias}.idsite = ? AND {alias}.local_date >= ? AND {alias}.local_date <= ?"
    span: list[object] = [query.idsite, query.span.start, query.span.end]
    if not query.segment.params and query.segment.sql == "TRUE":
        return "", where, span
    visits, params = scoped_visits(query)
    join = f"JOIN ({visits}) AS sv ON sv.visit_key = {alias}.visit_key"
    return join, where, [*params, *span]


def page_title(column: str) -> str:
    """SQL for Matomo's label of a page title (a page without one is "Page Name not defined")."""
    return f"coalesce(nullif({column}, ''), 'Page Name not defined')"


@method("Actions.getPageUrls")
def page_urls(query: Query) -> Report:
    """Page views by URL path (flat, as Matomo's ``flat=1``), with time, entries and exits."""
    return [
        {**row, "segment": f"pageUrl=={_segment_value(row['url'])}"}
        for row in _pages(query, titles=False)
    ]


@method("Actions.getPageTitles")
def page_titles(query: Query) -> Report:
    """Page views by page title (flat), with time, entries and exits."""
    return [
        {**{k: v for k, v in row.items() if k != "url"}, "segment": _title_segment(row["label"])}
        for row in _pages(query, titles=True)
    ]


def _title_segment(label: object) -> str:
    return f"pageTitle=={_segment_value(label)}"


def _pages(query: Query, *, titles: bool) -> list[Row]:
    """Page views grouped by their URL's label (or their title), with entries and exits.

    Everything comes from columns sessionize stored: the label of each view and of each
    visit's entry and exit page, and each hit's time to the visit's next hit (pings
    included: Matomo's time on page), so this is two aggregates and a join of their results.
    """
    join, where, params = actions_in_scope(query)
    visits, visit_params = scoped_visits(query)
    if titles:
        label, visits_sql = page_title("a.action_name"), "count(DISTINCT a.visit_key)"
        entry, leaving = page_title("v.entry_title"), page_title("v.exit_title")
    else:  # each visit's first view of a page is flagged: no distinct count needed
        label, visits_sql = "a.page_label", "count(*) FILTER (WHERE a.first_view_of_page)"
        entry, leaving = "v.entry_label", "v.exit_label"
    sql = report_sql(
        "pages",
        label=label,
        visits_sql=visits_sql,
        entry=entry,
        leaving=leaving,
        join=join,
        where=where,
        visits=visits,
    )
    rows = []
    for found in query.warehouse.rows(sql, [*params, *visit_params]):
        name, url = found[0], found[-1]
        hits, visit_count, seconds, entries, entry_actions, entry_seconds, bounces, exits = (
            int(value or 0) for value in found[1:-1]
        )
        rows.append(
            {
                "label": name,
                "nb_visits": visit_count,
                "nb_hits": hits,
                "sum_time_spent": seconds,
                "entry_nb_visits": entries,
                "entry_nb_actions": entry_actions,
                "entry_sum_visit_length": entry_seconds,
                "entry_bounce_count": bounces,
                "exit_nb_visits": exits,
                "avg_time_on_page": ratio(seconds, hits),
                "bounce_rate": percent(bounces, entries),
                "exit_rate": percent(exits, visit_count),
                "url": url,
            }
        )
    return rows


@method("Actions.getEntryPageUrls")
def entry_pages(query: Query) -> Report:
    """The pages visits started on, with the visits' actions, time and bounces."""
    return [
        {
            "label": row["label"],
            "entry_nb_visits": row["entry_nb_visits"],
            "entry_nb_actions": row["entry_nb_actions"],
            "entry_sum_visit_length": row["entry_sum_visit_length"],
            "entry_bounce_count": row["entry_bounce_count"],
            "bounce_rate": row["bounce_rate"],
            "url": row["url"],
            "segment": f"entryPageUrl=={_segment_value(row['url'])}",
        }
        for row in sorted(_pages(query, titles=False), key=_by("entry_nb_visits"))
        if row["entry_nb_visits"]
    ]


@method("Actions.getExitPageUrls")
def exit_pages(query: Query) -> Report:
    """The pages visits ended on, with the share of the page's visits that left there."""
    return [
        {
            "label": row["label"],
            "exit_nb_visits": row["exit_nb_visits"],
            "nb_visits": row["nb_visits"],
            "exit_rate": row["exit_rate"],
            "url": row["url"],
            "segment": f"exitPageUrl=={_segment_value(row['url'])}",
        }
        for row in sorted(_pages(query, titles=False), key=_by("exit_nb_visits"))
        if row["exit_nb_visits"]
    ]


def _by(column: str) -> Callable[[Row], tuple[int, str]]:
    """Sort key: ``column`` descending, then label."""
    return lambda row: (-int(row[column]), str(row["label"]))  # type: ignore[call-overload]


def _links(query: Query, kind: str, segment_name: str) -> Report:
    """Outlinks or downloads: by host, or by full URL with ``flat=1`` (Matomo's two views)."""
    join, where, params = actions_in_scope(query)
    sql = report_sql("links", join=join, where=where)
    flat = query.params.get("flat", "0") == "1"
    hits: dict[str, int] = {}
    visits_of: dict[str, set[str]] = {}
    examples: dict[str, str] = {}
    for url, idvisit, count in query.warehouse.rows(sql, [*params, kind]):
        key = str(url) if flat else (urlsplit(str(url)).hostname or str(url))
        hits[key] = hits.get(key, 0) + int(count)
        visits_of.setdefault(key, set()).add(str(idvisit))
        examples.setdefault(key, str(url))
    rows: list[Row] = []
    for key in sorted(hits, key=lambda key: (-len(visits_of[key]), -hits[key], key)):
        row: Row = {"label": key, "nb_visits": len(visits_of[key]), "nb_hits": hits[key]}
        if flat:
            row["url"] = key
            row["segment"] = f"{segment_name}=={_segment_value(key)}"
        else:
            row["segment"] = f"{segment_name}=@{_segment_value(key)}"
        rows.append(row)
    return rows


@method("Actions.getOutlinks")
def outlinks(query: Query) -> Report:
    """Clicks on links to other sites, by host (``flat=1``: by URL)."""
    return _links(query, "outlink", "outlinkUrl")


@method("Actions.getDownloads")
def downloads(query: Query) -> Report:
    """Downloads, by host (``flat=1``: by file URL)."""
    return _links(query, "download", "downloadUrl")


# -- Events ------------------------------------------------------------------------------


@method("Events.getCategory")
def event_categories(query: Query) -> Report:
    """Events by category: how many, in how many visits, and their values."""
    return _events(query, "event_category", "eventCategory", "Event category not defined")


@method("Events.getAction")
def event_actions(query: Query) -> Report:
    """Events by action (Play, Pause, ...)."""
    return _events(query, "event_action", "eventAction", "Event action not defined")


@method("Events.getName")
def event_names(query: Query) -> Report:
    """Events by name (the optional third part of an event)."""
    # Matomo's label, capital N (its Events_NameNotDefined)
    return _events(query, "event_name", "eventName", "Event Name not defined")


def _events(query: Query, column: str, segment_name: str, missing: str) -> list[Row]:
    join, where, params = actions_in_scope(query)
    sql = report_sql("events", column=column, join=join, where=where)
    rows = []
    for value, visit_count, events, valued, total, low, high in query.warehouse.rows(sql, params):
        label = value if value not in (None, "") else missing
        rows.append(
            {
                "label": label,
                "nb_visits": int(visit_count),
                "nb_events": int(events),
                "nb_events_with_value": int(valued),
                "sum_event_value": rounded(float(total), 2),
                # no event with a value: no minimum or maximum (Matomo leaves them empty)
                "min_event_value": rounded(float(low), 2) if low is not None else None,
                "max_event_value": rounded(float(high), 2) if high is not None else None,
                "avg_event_value": ratio(float(total), int(valued), 2),
                "segment": f"{segment_name}=={_segment_value(value or '')}",
            }
        )
    return rows


# -- Live --------------------------------------------------------------------------------


@method("Live.getCounters", periodless=True)
def counters(query: Query) -> Report:
    """Visits, actions, visitors and converted visits of the last ``lastMinutes`` minutes.

    Reads sessionized data, so it lags web.hits by the sessionize interval.
    """
    minutes = query.params.get("lastMinutes", "")
    if not minutes.isdigit() or not 1 <= int(minutes) <= 2880:
        raise BadInputError(
            "lastMinutes must be a whole number from 1 to 2880", field="lastMinutes"
        )
    now = query.now or dt.datetime.now(dt.UTC)
    if now.tzinfo is not None:
        now = now.astimezone(dt.UTC).replace(tzinfo=None)  # web.visits holds naive UTC
    since = now - dt.timedelta(minutes=int(minutes))
    # The two local dates around ``since`` hold every visit that can have ended after it.
    first_day = (since - dt.timedelta(days=2)).date()
    sql = report_sql("counters", segment=query.segment.sql)
    params = [query.idsite, first_day, since, now, *query.segment.params, since, now]
    visit_count, actions, visitors, converted = query.warehouse.rows(sql, params)[0]
    return [
        {
            "visits": int(visit_count),
            "actions": int(actions),
            "visitors": int(visitors),
            "visitsConverted": int(converted),
        }
    ]


# -- Methods in their own modules: importing them registers them (they import this module,
# so the imports come last, once everything above is defined).

from tally.web.reporting import (  # noqa: E402, F401
    attribution,
    custom,
    devices,
    ecommerce,
    goals,
    live,
    locations,
    provider,
    site_search,
    transitions,
    usersflow,
    visit_time,
    visitor_interest,
)
