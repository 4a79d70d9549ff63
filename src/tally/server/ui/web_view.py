"""What a web analytics report gets (one site, period and segment) and the shared helpers.

Every report asks the Reporting API through ``View.api``, with the parameters an HTTP
client would send, so a panel shows what ``/index.php?module=API`` answers and the segment
box narrows every report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tally.server.ui.render import Panel, bars
from tally.warehouse import Warehouse
from tally.web.reporting import call
from tally.web.reporting.periods import Span

TOP = 15  # rows drawn in a chart; the table and CSV keep every row
EVOLUTION_PERIODS = {"day": 30, "week": 12, "month": 12, "year": 5}
VISIT_COLUMNS = [
    "nb_visits",
    "nb_uniq_visitors",
    "nb_actions",
    "bounce_count",
    "nb_visits_converted",
]


@dataclass(frozen=True)
class Site:
    idsite: int
    name: str
    timezone: str


@dataclass(frozen=True)
class View:
    """What the pickers chose: one site, one period, one segment."""

    warehouse: Warehouse
    site: Site
    period: str
    date: str
    segment: str
    span: Span
    note: str = ""  # why the page shows another day than the one asked (default_date)

    def params(self, **extra: str) -> dict[str, str]:
        found = {"idSite": str(self.site.idsite), "period": self.period, "date": self.date}
        if self.segment:
            found["segment"] = self.segment
        return {**found, **extra}

    def api(self, method: str, **extra: str) -> object:
        return call(self.warehouse, method, self.params(**extra))


@dataclass(frozen=True)
class Report:
    group: str
    key: str
    title: str
    build: Callable[[View], list[Panel]]


# -- helpers ------------------------------------------------------------------------------


def dimension_panel(
    key: str, title: str, rows: list[dict[str, Any]], label: str = "label"
) -> Panel:
    """A Matomo visit-dimension report (label + visit metrics) as bars and a table."""
    table = [
        [
            row.get(label),
            row.get("nb_visits", 0),
            row.get("nb_uniq_visitors", 0),
            row.get("nb_actions", 0),
            percent_of(row.get("bounce_count", 0), row.get("nb_visits", 0)),
            per(row.get("sum_visit_length", 0), row.get("nb_visits", 0)),
            row.get("nb_visits_converted", 0),
        ]
        for row in rows
    ]
    top = table[:TOP]
    return Panel(
        key,
        title,
        [
            "label",
            "visits",
            "unique visitors",
            "actions",
            "bounce rate %",
            "avg seconds",
            "converted",
        ],
        table,
        bars([r[0] for r in top], [r[1] for r in top]) if top else None,
    )


def short_url(url: str) -> str:
    """A URL as a chart label: its path and query, without scheme and host."""
    if not url.startswith(("http://", "https://")):
        return url
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def percent_of(part: Any, whole: Any) -> float:
    return round(float(part or 0) / float(whole) * 100, 1) if whole else 0.0


def per(part: Any, whole: Any) -> float:
    return round(float(part or 0) / float(whole), 1) if whole else 0.0


def report_rows(answer: object) -> list[dict[str, Any]]:
    return answer if isinstance(answer, list) else []


def column_panel(view: View, key: str, title: str, label: str, method: str) -> Panel:
    """A Reporting API report of buckets in their own order (hours, days, lengths) as
    columns: label and visits."""
    table = [[r.get("label"), r.get("nb_visits", 0)] for r in report_rows(view.api(method))]
    chart = None
    if table:
        chart = bars([r[0] for r in table], [r[1] for r in table], horizontal=False)
        chart["layout"]["xaxis"] = {"type": "category"}
    return Panel(key, title, [label, "visits"], table, chart)
