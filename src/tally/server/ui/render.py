"""Pages from Jinja2 templates; panels that are a chart, an HTML table and a CSV at once.

A page handler computes a list of ``Panel``s. The same URL answers the HTML page, or with
``?csv=<panel key>`` that panel's rows as CSV, so every chart's numbers can be downloaded
exactly as drawn. Charts are plotly.js figures (plain JSON) placed in
``<script type="application/json">`` blocks and drawn by ``static/tally-ui.js``, which keeps
the Content-Security-Policy strict (no inline script).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

HERE = Path(__file__).resolve().parent
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class Panel:
    """One block of a page: a chart (optional) and the table of its numbers."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    chart: dict[str, Any] | None = None
    note: str = ""
    links: dict[int, str] = field(default_factory=dict)  # column index -> URL template
    wide: bool = True  # False: half the width on a wide screen

    def chart_json(self) -> str:
        # "</" must not close the script element that holds the JSON.
        return json.dumps(self.chart, default=_plain).replace("</", "<\\/")


def _plain(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def cell(value: Any) -> str:
    """A table cell as text: thousands separators, two decimals for fractions."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float | Decimal):
        number = float(value)
        if math.isnan(number):
            return ""
        return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


templates.filters["cell"] = cell


def csv_response(panel: Panel, name: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(panel.columns)
    for row in panel.rows:
        writer.writerow(["" if value is None else _csv_value(value) for value in row])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{panel.key}.csv"'},
    )


def _csv_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def page(
    request: Request,
    template: str,
    *,
    title: str,
    panels: Sequence[Panel] = (),
    status_code: int = 200,
    **context: Any,
) -> Response:
    """The page, or one panel's CSV when ``?csv=KEY`` is asked for."""
    wanted = request.query_params.get("csv")
    if wanted is not None:
        for panel in panels:
            if panel.key == wanted:
                return csv_response(panel, template.removesuffix(".html"))
        return Response(f"no panel {wanted!r} on this page", status_code=404)
    from tally.server.ui.access import csrf_token

    html = templates.get_template(template).render(
        request=request,
        title=title,
        panels=panels,
        user=request.scope.get("state", {}).get("user"),
        csrf=csrf_token(request) if "session" in request.scope else "",
        csv_url=lambda key: _with_param(request, "csv", key),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def _with_param(request: Request, name: str, value: str) -> str:
    params = dict(request.query_params)
    params[name] = value
    return (
        str(request.url.replace_query_params(**params).path)
        + "?"
        + "&".join(f"{k}={_quote(v)}" for k, v in params.items())
    )


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


# -- plotly figures (plain JSON; plotly.js draws them) -----------------------------------

_LAYOUT = {
    "margin": {"l": 50, "r": 20, "t": 10, "b": 40},
    "height": 300,
    "legend": {"orientation": "h", "y": -0.2},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
}


def lines(x: list[Any], series: dict[str, list[Any]], *, kind: str = "scatter") -> dict[str, Any]:
    """One line (or bar group with ``kind='bar'``) per series over the same x values."""
    traces = []
    for name, values in series.items():
        trace: dict[str, Any] = {"type": kind, "name": name, "x": x, "y": values}
        if kind == "scatter":
            trace["mode"] = "lines+markers"
        traces.append(trace)
    layout = {**_LAYOUT, "xaxis": {"type": "category"}}
    if kind == "bar":
        layout["barmode"] = "stack"
    return {"data": traces, "layout": layout}


def bars(labels: list[Any], values: list[Any], *, horizontal: bool = True) -> dict[str, Any]:
    trace: dict[str, Any] = (
        {"type": "bar", "orientation": "h", "y": labels, "x": values}
        if horizontal
        else {"type": "bar", "x": labels, "y": values}
    )
    layout = dict(_LAYOUT)
    if horizontal:
        layout = {**layout, "yaxis": {"autorange": "reversed", "automargin": True}}
        layout["height"] = max(200, 28 * len(labels) + 60)
    return {"data": [trace], "layout": layout}


def pie(labels: list[Any], values: list[Any]) -> dict[str, Any]:
    return {
        "data": [{"type": "pie", "labels": labels, "values": values, "hole": 0.45}],
        "layout": {**_LAYOUT, "height": 280},
    }


def sankey(
    labels: list[str], sources: list[int], targets: list[int], values: list[Any]
) -> dict[str, Any]:
    trace = {
        "type": "sankey",
        "arrangement": "snap",
        "node": {"label": labels, "pad": 12, "thickness": 14},
        "link": {"source": sources, "target": targets, "value": values},
    }
    return {"data": [trace], "layout": {**_LAYOUT, "height": 480}}
