"""Visitors: overview and its graph, visitor log, locations, devices, software, times,
engagement, custom variables and dimensions (the real-time map is in ``web_map``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tally.server.ui.render import Panel, bars, lines, pie
from tally.server.ui.web_view import (
    EVOLUTION_PERIODS,
    TOP,
    VISIT_COLUMNS,
    View,
    column_panel,
    dimension_panel,
    report_rows,
)
from tally.web.reporting.methods import (
    VISIT_METRIC_NAMES,
    Query,
    Row,
    summary_by_period,
    summary_row,
)
from tally.web.reporting.periods import Span, resolve
from tally.web.reporting.segments import compile_segment


def evolution_params(view: View) -> dict[str, str]:
    """The API parameters of the evolution graph: the last N periods up to the chosen one."""
    if view.period == "range":
        return view.params(period="day", date=f"{view.span.start},{view.span.end}")
    count = EVOLUTION_PERIODS[view.period]
    first = view.span.start
    for _ in range(count - 1):
        first = _previous_start(view.period, first)
    return view.params(date=f"{first},{view.span.end}")


def _previous_start(period: str, day: dt.date) -> dt.date:
    if period == "day":
        return day - dt.timedelta(days=1)
    if period == "week":
        return day - dt.timedelta(weeks=1)
    if period == "month":
        return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return day.replace(year=day.year - 1)


TRUNCATE = {"day": "day", "range": "day", "week": "week", "month": "month", "year": "year"}


def evolution(view: View) -> dict[str, Row]:
    """VisitsSummary.get's answer for each period of the evolution graph, in one query.

    Asking the API once per period costs one scan of web.visits per point (30 for a daily
    graph); the Reporting API's ``summary_by_period`` gives the same rows from one grouped
    query over the whole span (a test compares them with the API's).
    """
    params = evolution_params(view)
    spans = resolve(params["period"], params["date"], view.site.timezone).spans
    whole = Span("range", spans[0].start, spans[-1].end)
    query = Query(view.warehouse, view.site.idsite, whole, compile_segment(view.segment))
    by_start = summary_by_period(query, TRUNCATE[params["period"]])
    empty = summary_row(dict.fromkeys(VISIT_METRIC_NAMES, 0))
    return {span.label: by_start.get(span.start, empty) for span in spans}


def overview(view: View) -> list[Panel]:
    by_period = evolution(view)
    labels = list(by_period)
    series = {
        "visits": [by_period[p].get("nb_visits", 0) for p in labels],
        "unique visitors": [by_period[p].get("nb_uniq_visitors", 0) for p in labels],
    }
    evolution_panel = Panel(
        "evolution",
        "Visits over time",
        ["period", *VISIT_COLUMNS],
        [[p, *[by_period[p].get(c, 0) for c in VISIT_COLUMNS]] for p in labels],
        lines(labels, series),
    )
    summary = view.api("VisitsSummary.get")
    summary = summary if isinstance(summary, dict) else {}
    return [
        evolution_panel,
        Panel(
            "summary",
            f"Summary ({view.span.start} – {view.span.end})",
            ["metric", "value"],
            [[name, value] for name, value in summary.items()],
        ),
    ]


LOG_COLUMNS = [
    "started (UTC)",
    "visitor",
    "country",
    "provider",
    "device",
    "browser",
    "referrer",
    "actions",
    "seconds",
    "entry page",
    "exit page",
    "conversions",
]
LOG_VISITS = 200
# the visitor log's details that are conversions (Live's goals, orders and abandoned carts)
CONVERTED = ("goal", "ecommerceOrder", "ecommerceAbandonedCart")


def visitor_log(view: View) -> list[Panel]:
    """The newest visits as the Reporting API's Live.getLastVisitsDetails gives them."""
    visits = report_rows(view.api("Live.getLastVisitsDetails", filter_limit=str(LOG_VISITS)))
    rows = [_log_row(visit) for visit in visits]
    return [Panel("log", f"Visitor log (newest {LOG_VISITS} visits)", LOG_COLUMNS, rows)]


def _log_row(visit: dict[str, Any]) -> list[object]:
    details = visit.get("actionDetails") or []
    pages = [d.get("url") for d in details if d.get("type") == "action"]
    started = dt.datetime.fromtimestamp(int(visit["firstActionTimestamp"]), dt.UTC)
    country = str(visit.get("countryCode") or "xx")
    return [
        started.replace(tzinfo=None),
        str(visit.get("visitorId") or "")[:8],
        "" if country == "xx" else country.upper(),
        visit.get("provider"),
        visit.get("deviceType"),
        visit.get("browserName"),
        visit.get("referrerName") or visit.get("referrerType"),
        visit.get("actions"),
        visit.get("visitDuration"),
        pages[0] if pages else None,
        pages[-1] if pages else None,
        sum(1 for d in details if d.get("type") in CONVERTED),
    ]


def locations(view: View) -> list[Panel]:
    """Matomo's "Locations & provider": countries, cities and providers side by side."""
    panels = [
        dimension_panel("countries", "Countries", report_rows(view.api("UserCountry.getCountry")))
    ]
    cities = report_rows(view.api("UserCountry.getCity"))
    # A city is known only when a tracking request sent one (the bundled data has none), so
    # the panel is left out when every visit's city is unknown.
    if any(row.get("city_name") not in (None, "Unknown") for row in cities):
        panels.append(dimension_panel("cities", "Cities", cities))
    panels.append(
        dimension_panel("providers", "Providers", report_rows(view.api("Provider.getProvider")))
    )
    for panel in panels:
        panel.wide = False
    panels[-1].note = "the organisation the visitor's network is registered to (see docs/web.md)"
    return panels


def devices(view: View) -> list[Panel]:
    panel = dimension_panel(
        "device-types", "Device types", report_rows(view.api("DevicesDetection.getType"))
    )
    if panel.rows:
        panel.chart = pie([r[0] for r in panel.rows], [r[1] for r in panel.rows])
    return [panel]


def software(view: View) -> list[Panel]:
    return [
        dimension_panel(
            "os", "Operating systems", report_rows(view.api("DevicesDetection.getOsFamilies"))
        ),
        dimension_panel(
            "browsers", "Browsers", report_rows(view.api("DevicesDetection.getBrowsers"))
        ),
    ]


def times(view: View) -> list[Panel]:
    return [
        column_panel(
            view,
            "hours",
            "Visits per hour (site's time)",
            "hour",
            "VisitTime.getVisitInformationPerServerTime",
        ),
        column_panel(
            view, "weekdays", "Visits per day of the week", "day", "VisitTime.getByDayOfWeek"
        ),
    ]


def engagement(view: View) -> list[Panel]:
    """Visits by number of actions and by length: the Reporting API's VisitorInterest
    reports (Matomo's buckets)."""
    return [
        column_panel(
            view,
            "actions",
            "Visits by number of actions",
            "actions",
            "VisitorInterest.getNumberOfVisitsPerPage",
        ),
        column_panel(
            view,
            "durations",
            "Visits by duration",
            "duration",
            "VisitorInterest.getNumberOfVisitsPerVisitDuration",
        ),
    ]


DIMENSION_IDS = range(1, 11)  # the dimension numbers the page asks about (dimension1..10)


def custom_variables(view: View) -> list[Panel]:
    """Custom variables by name then value, and the values of each custom dimension in use."""
    named = report_rows(view.api("CustomVariables.getCustomVariables"))
    rows = []
    for variable in named:
        for value in variable.get("subtable", []):
            rows.append(
                [variable["label"], value["label"], value["nb_visits"], value["nb_actions"]]
            )
    top = named[:TOP]
    panels = [
        Panel(
            "custom-variables",
            "Custom variables (name, value)",
            ["name", "value", "visits", "actions"],
            rows,
            bars([r["label"] for r in top], [r["nb_visits"] for r in top]) if top else None,
            note="The chart counts visits per variable name; the table splits them by value.",
        )
    ]
    for number in DIMENSION_IDS:
        values = report_rows(
            view.api("CustomDimensions.getCustomDimension", idDimension=str(number))
        )
        if not values:
            continue
        table = [[r["label"], r["nb_visits"], r["nb_hits"]] for r in values]
        top_values = table[:TOP]
        panels.append(
            Panel(
                f"dimension-{number}",
                f"Custom dimension {number}",
                ["value", "visits", "hits"],
                table,
                bars([r[0] for r in top_values], [r[1] for r in top_values]),
                wide=False,
            )
        )
    if len(panels) == 1:
        panels[0].note += (
            f" No custom dimension (dimension{DIMENSION_IDS[0]}…dimension{DIMENSION_IDS[-1]}) "
            "has a value in this period."
        )
    return panels
