"""The seed's other reports on the dashboard (``/reports``): the yellow report, the AD
report, the telco report, the content window report and the store figures beside tally's,
for one country and period, with the same tables as their workbooks
(``tally.reports.seedreports``, ``tally.reports.stores``). Each table's CSV is a link away.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tally.config import Settings
from tally.errors import NotFoundError
from tally.reports.seedreports import KINDS, Table, build_tables
from tally.reports.stores import store_sheets
from tally.server.ui.access import page_queries, warehouse_of
from tally.server.ui.render import Panel, page
from tally.warehouse import Warehouse

PERIODS = ("daily", "weekly", "monthly")


def panels_for(warehouse: Warehouse, country: str, period: str, day: dt.date) -> list[Panel]:
    """One panel per table of each report, then the store figures; a report whose marts are
    not built is one panel saying so."""
    panels = []
    for kind in KINDS.values():
        try:
            tables = build_tables(warehouse, kind, country, period, day)
        except NotFoundError as error:
            panels.append(Panel(kind.name, kind.seed_name, ["not available"], [[str(error)]]))
            continue
        panels += [_panel(kind.name, kind.seed_name, table) for table in tables]
    for sheet in store_sheets(warehouse, country, period, day):
        key = "store-" + sheet.name.lower().replace(" ", "-")
        panels.append(Panel(key, sheet.name, sheet.header, sheet.rows, note=sheet.note))
    return panels


def _panel(kind: str, seed_name: str, table: Table) -> Panel:
    columns = [column.header for column in table.columns]
    rows = [
        [_shown(value, column.look) for value, column in zip(row, table.columns, strict=True)]
        for row in table.rows
    ]
    key = f"{kind}-{table.sheet.lower().replace(' ', '-')}"
    return Panel(key, f"{table.title} — {seed_name}", columns, rows, note=table.note)


def _shown(value: object, look: str) -> object:
    """A ratio as a percentage (rounded to 0.1), an empty ratio as nothing."""
    if value == "":
        return None
    if look == "ratio" and isinstance(value, float | Decimal):
        return f"{float(value) * 100:.1f} %"
    return value


def _newest_day(warehouse: Warehouse) -> dt.date:
    if warehouse.table_exists("marts.report_fact"):
        found = warehouse.rows("SELECT max(start_date) FROM marts.report_fact")[0][0]
        if isinstance(found, dt.date):
            return found
    return dt.date.today()


def routes(settings: Settings) -> list[Route]:
    async def reports_page(request: Request) -> Response:
        warehouse = warehouse_of(request)
        codes = [country.code for country in settings.countries]
        country = request.query_params.get("country", codes[0] if codes else "")
        period = request.query_params.get("period", "weekly")
        if country not in codes or period not in PERIODS:
            return Response("unknown country or period", status_code=400)

        def compute() -> tuple[dt.date, list[Panel]]:
            text = request.query_params.get("date")
            day = dt.date.fromisoformat(text) if text else _newest_day(warehouse)
            return day, panels_for(warehouse, country, period, day)

        try:
            day, panels = await page_queries(request, compute)
        except ValueError:
            return Response("date: YYYY-MM-DD", status_code=400)
        return page(
            request,
            "reports.html",
            title="Reports",
            area="reports",
            panels=panels,
            country=country,
            countries=codes,
            period=period,
            periods=PERIODS,
            day=day,
        )

    return [Route("/reports", reports_page)]
