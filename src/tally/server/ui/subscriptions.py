"""The subscriptions dashboard, read from ``marts.report_fact`` (the seed's long table).

KPIs compare the newest period of the chosen range with the one before it. Churn rate is
the period's churn over the active subscribers at the end of the previous period (the
stock the churn came out of). Revenue is customer price net of refunds, per currency, one
line each (never stacked or added across currencies); the analytics panels
(``subscription_analytics.py``) add it up only after converting it to the reporting
currency. Reconciliation sets tally's iOS and Android active counts beside what Apple's
SUBSCRIPTION report and Google Play's statistics say for the same day.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from tally.config import Settings
from tally.server.ui.access import page_queries, warehouse_of
from tally.server.ui.render import Panel, bars, lines, page
from tally.server.ui.subscription_analytics import (
    acquisition_channels,
    attribution_panel,
    converted_revenue_panel,
    ltv_panel,
    mrr_panels,
    retention_panel,
)
from tally.warehouse import Warehouse
from tally.warehouse.sqlfiles import sql_file

RESOLUTIONS = ("daily", "weekly", "monthly")
DEFAULT_SPAN = {"daily": 30, "weekly": 12, "monthly": 12}  # periods shown by default
KPI_TYPES = ("Active subscriber", "New subscriber", "Churn", "Free trial", "Trial conversion")
BREAKDOWNS = (
    ("country", "country", "Country"),
    ("platform", "platform", "Platform"),
    ("plan", "meta_1", "Plan"),
    ("channel", "meta_2", "Channel"),
    ("payment", "meta_4", "Payment status"),
)


@dataclass(frozen=True)
class Filters:
    resolution: str
    start: dt.date
    end: dt.date
    country: str
    platform: str
    # the web/app channel that brought a subscription: filters the cohort panels only
    acquisition: str = ""

    def where(self) -> tuple[str, list[object]]:
        sql = "resolution_type = ?"
        params: list[object] = [self.resolution]
        if self.country:
            sql += " AND country = ?"
            params.append(self.country)
        if self.platform:
            sql += " AND platform = ?"
            params.append(self.platform)
        return sql, params


@dataclass(frozen=True)
class Kpi:
    label: str
    value: float | None
    previous: float | None
    unit: str = ""
    percent: bool = False
    good_when_up: bool = True  # churn going up is shown as bad news

    @property
    def good(self) -> bool | None:
        change = self.change
        return None if change is None else (change >= 0) == self.good_when_up

    @property
    def change(self) -> float | None:
        if self.value is None or not self.previous:
            return None
        return (self.value - self.previous) / abs(self.previous) * 100


def step_back(day: dt.date, resolution: str, periods: int = 1) -> dt.date:
    """The start of the period ``periods`` before the one starting ``day``."""
    if resolution == "daily":
        return day - dt.timedelta(days=periods)
    if resolution == "weekly":
        return day - dt.timedelta(weeks=periods)
    month = day.year * 12 + day.month - 1 - periods
    return dt.date(month // 12, month % 12 + 1, 1)


def period_start(day: dt.date, resolution: str) -> dt.date:
    if resolution == "weekly":
        return day - dt.timedelta(days=day.weekday())
    if resolution == "monthly":
        return day.replace(day=1)
    return day


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def read_filters(request: Request, warehouse: Warehouse) -> Filters:
    params = request.query_params
    resolution = params.get("resolution", "daily")
    resolution = resolution if resolution in RESOLUTIONS else "daily"
    newest = warehouse.rows(
        "SELECT max(start_date) FROM marts.report_fact WHERE resolution_type = ?", [resolution]
    )[0][0]
    end = period_start(_date(params.get("to")) or newest or dt.date.today(), resolution)
    start = _date(params.get("from"))
    start = (
        period_start(start, resolution)
        if start
        else step_back(end, resolution, DEFAULT_SPAN[resolution] - 1)
    )
    return Filters(
        resolution,
        min(start, end),
        end,
        params.get("country", ""),
        params.get("platform", ""),
        params.get("acquisition", ""),
    )


def _choices(warehouse: Warehouse, column: str) -> list[str]:
    return [
        str(row[0])
        for row in warehouse.rows(
            f"SELECT DISTINCT {column} FROM marts.report_fact WHERE {column} IS NOT NULL ORDER BY 1"
        )
    ]


def series(warehouse: Warehouse, filters: Filters) -> dict[tuple[dt.date, str], float]:
    """(period start, metric) → value over the range and the period before it."""
    where, params = filters.where()
    found = warehouse.rows(
        sql_file("tally.models", "marts/_dashboard_kpis.sql", where=where),
        [*params, step_back(filters.start, filters.resolution), filters.end, *KPI_TYPES],
    )
    return {(row[0], row[1]): float(row[2]) for row in found}


def kpis(values: dict[tuple[dt.date, str], float], filters: Filters) -> list[Kpi]:
    last = filters.end
    before = step_back(last, filters.resolution)
    two_before = step_back(last, filters.resolution, 2)

    def get(day: dt.date, metric: str) -> float | None:
        return values.get((day, metric), 0.0) if _has(values, day) else None

    def churn_rate(day: dt.date, start_stock_day: dt.date) -> float | None:
        stock, churn = get(start_stock_day, "Active subscriber"), get(day, "Churn")
        return churn / stock * 100 if stock and churn is not None else None

    found = [
        Kpi("Active subscribers", get(last, "Active subscriber"), get(before, "Active subscriber")),
        Kpi("New subscribers", get(last, "New subscriber"), get(before, "New subscriber")),
        Kpi("Churn", get(last, "Churn"), get(before, "Churn"), good_when_up=False),
        Kpi(
            "Churn rate",
            churn_rate(last, before),
            churn_rate(before, two_before),
            percent=True,
            good_when_up=False,
        ),
        Kpi("Trial conversions", get(last, "Trial conversion"), get(before, "Trial conversion")),
    ]
    currencies = sorted({m.removeprefix("Revenue ") for _, m in values if m.startswith("Revenue")})
    for currency in currencies:
        metric = f"Revenue {currency}"
        found.append(Kpi(f"Revenue ({currency})", get(last, metric), get(before, metric)))
    return found


def _has(values: dict[tuple[dt.date, str], float], day: dt.date) -> bool:
    return any(key[0] == day for key in values)


def trend_panels(values: dict[tuple[dt.date, str], float], filters: Filters) -> list[Panel]:
    days = sorted({d for d, _ in values if d >= filters.start})
    labels = [d.isoformat() for d in days]

    def column(metric: str) -> list[float]:
        return [values.get((d, metric), 0.0) for d in days]

    active = column("Active subscriber")
    flows = {m: column(m) for m in ("New subscriber", "Churn", "Free trial", "Trial conversion")}
    revenue = sorted(
        {m for _, m in values if m.startswith("Revenue")}, key=lambda m: m.removeprefix("Revenue ")
    )
    return [
        Panel(
            "active",
            "Active subscribers (end of period)",
            ["period", "active"],
            [[d, a] for d, a in zip(days, active, strict=True)],
            lines(labels, {"Active subscribers": active}),
        ),
        Panel(
            "flows",
            "New subscribers, churn and trials",
            ["period", *flows],
            [[d, *[flows[m][i] for m in flows]] for i, d in enumerate(days)],
            lines(labels, flows),
        ),
        Panel(
            "revenue",
            "Revenue by currency (net of refunds, each in its own currency)",
            ["period", *revenue],
            [[d, *[values.get((d, m), 0.0) for m in revenue]] for d in days],
            lines(labels, {m: column(m) for m in revenue}),
        ),
    ]


def breakdown_panels(warehouse: Warehouse, filters: Filters) -> list[Panel]:
    """Active, new and churn of the newest period by each breakdown column.

    One query fetches the period's (few hundred) combinations; the five breakdowns are sums
    over them, so the large table is scanned once, not five times.
    """
    where, params = filters.where()
    columns = [column for _, column, _ in BREAKDOWNS]
    sql = sql_file(
        "tally.server.ui", "queries/breakdowns.sql", columns=", ".join(columns), where=where
    )
    found = warehouse.rows(sql, [*params, filters.end])
    metrics = ("Active subscriber", "New subscriber", "Churn")
    panels = []
    for index, (key, _column, title) in enumerate(BREAKDOWNS):
        sums: dict[str, list[float]] = {}
        for row in found:
            label = row[index] if row[index] is not None else "(none)"
            sums.setdefault(label, [0.0, 0.0, 0.0])[metrics.index(row[-2])] += float(row[-1])
        ranked = sorted(sums.items(), key=lambda item: (-item[1][0], item[0]))
        rows = [[label, *values] for label, values in ranked]
        panels.append(
            Panel(
                f"by-{key}",
                f"By {title.lower()} ({filters.end})",
                [title, "active", "new", "churn"],
                rows,
                bars([r[0] for r in rows], [r[1] for r in rows]),
                wide=False,
            )
        )
    return panels


def reconciliation_panel(warehouse: Warehouse, filters: Filters) -> Panel | None:
    """tally's daily active counts beside the stores' own, per day, platform and country:
    the reconciliation marts as built (the comparison is defined once, in
    models/marts/reconciliation_app_store.sql and reconciliation_google_play.sql)."""
    pieces = [
        f"SELECT day, platform, country, {store} AS store, tally_active, difference "
        f"FROM marts.{mart}"
        for mart, store in (
            ("reconciliation_app_store", "apple_active"),
            ("reconciliation_google_play", "google_active"),
        )
        if warehouse.table_exists(f"marts.{mart}")
    ]
    if not pieces:
        return None
    start = filters.start if filters.resolution == "daily" else step_back(filters.end, "daily", 29)
    end = filters.end if filters.resolution == "daily" else dt.date.max
    country = " AND country = ?" if filters.country else ""
    found = warehouse.rows(
        f"SELECT day, platform, country, store, tally_active, difference FROM ("
        f"{' UNION ALL '.join(pieces)}) AS marts WHERE day >= ? AND day <= ?{country} "
        "ORDER BY 1, 2, 3",
        [start, end, *([filters.country] if filters.country else [])],
    )
    rows = []
    for day, platform, place, store, counted, difference in found:
        # the difference as the mart defines it; only its share of the store's count here
        store, counted, gap = float(store or 0), float(counted or 0), float(difference or 0)
        rows.append(
            [day, platform, place, store, counted, gap, gap / store * 100 if store else None]
        )
    days = sorted({r[0] for r in rows})
    chart = {}
    for platform in sorted({r[1] for r in rows}):
        for label, index in (("store", 3), ("tally", 4)):
            chart[f"{platform} {label}"] = [
                sum(r[index] for r in rows if r[0] == d and r[1] == platform) for d in days
            ]
    return Panel(
        "reconciliation",
        "Reconciliation: tally's active subscribers vs the stores' reports",
        ["day", "platform", "country", "store count", "tally count", "difference", "difference %"],
        rows,
        lines([d.isoformat() for d in days], chart),
        note="From marts.reconciliation_app_store and marts.reconciliation_google_play: "
        "Apple's SUBSCRIPTION report (active standard price + introductory offers + grace "
        "period) and Google Play's Active Subscriptions (newest copy of each day) beside "
        "tally's recurring total, trials and grace included (docs/metrics.md).",
    )


def releases_panel(warehouse: Warehouse, filters: Filters) -> Panel | None:
    """Episodes released per day beside new subscribers per day."""
    if not warehouse.table_exists("staging.viu_cms_episodes"):
        return None
    where, params = replace(filters, resolution="daily").where()
    country = " AND country = ?" if filters.country else ""
    start = filters.start if filters.resolution == "daily" else step_back(filters.end, "daily", 29)
    found = warehouse.rows(
        sql_file("tally.models", "marts/_dashboard_episodes.sql", country=country, where=where),
        [start, *([filters.country] if filters.country else []), *params, start],
    )
    rows = [[r[0], int(r[1]), float(r[2])] for r in found]
    labels = [r[0].isoformat() for r in rows]
    chart = lines(labels, {"new subscribers": [r[2] for r in rows]})
    chart["data"].append(
        {
            "type": "bar",
            "name": "episodes released",
            "x": labels,
            "y": [r[1] for r in rows],
            "yaxis": "y2",
            "opacity": 0.5,
        }
    )
    chart["layout"] = {
        **chart["layout"],
        "yaxis2": {"overlaying": "y", "side": "right", "title": {"text": "episodes"}},
    }
    return Panel(
        "releases",
        "Content releases and new subscribers (daily)",
        ["day", "episodes released", "new subscribers"],
        rows,
        chart,
    )


def report_files(settings: Settings) -> list[tuple[str, str, int]]:
    """(period folder, file name, bytes) of every Excel report written so far, newest first."""
    root = Path(settings.data_dir) / "reports" / "subscription-report"
    if not root.is_dir():
        return []
    found = [
        (path.parent.name, path.name, path.stat().st_size)
        for path in root.glob("*/*.xlsx")
        if path.is_file()
    ]
    return sorted(found, key=lambda item: (item[1].rsplit("-", 3)[-3:], item[0]), reverse=True)


def all_panels(warehouse: Warehouse, filters: Filters) -> tuple[list[Kpi], list[Panel]]:
    values = series(warehouse, filters)
    panels = trend_panels(values, filters)
    converted = converted_revenue_panel(warehouse, filters)
    panels += [converted] if converted is not None else []
    panels += mrr_panels(warehouse, filters)
    cohorts = [
        retention_panel(warehouse, filters),
        ltv_panel(warehouse, filters),
        attribution_panel(warehouse, filters),
    ]
    panels += [p for p in cohorts if p is not None]
    extra = [reconciliation_panel(warehouse, filters), releases_panel(warehouse, filters)]
    panels += [p for p in extra if p is not None]
    panels += breakdown_panels(warehouse, filters)
    return kpis(values, filters), panels


def routes(settings: Settings) -> list[Route]:
    async def subscriptions_page(request: Request) -> Response:
        warehouse = warehouse_of(request)
        if not await asyncio.to_thread(warehouse.table_exists, "marts.report_fact"):
            return page(
                request,
                "message.html",
                title="Subscriptions",
                area="subscriptions",
                message="marts.report_fact is not built yet: run `tally demo` (demo data) or "
                "`tally run` (the daily job), then reload.",
            )

        def compute() -> tuple[Filters, list[Kpi], list[Panel], list[str], list[str], list[str]]:
            filters = read_filters(request, warehouse)
            found_kpis, panels = all_panels(warehouse, filters)
            return (
                filters,
                found_kpis,
                panels,
                _choices(warehouse, "country"),
                _choices(warehouse, "platform"),
                acquisition_channels(warehouse),
            )

        filters, found_kpis, panels, countries, platforms, acquisitions = await page_queries(
            request, compute
        )
        return page(
            request,
            "subscriptions.html",
            title="Subscriptions",
            area="subscriptions",
            panels=panels,
            kpis=found_kpis,
            filters=filters,
            resolutions=RESOLUTIONS,
            countries=countries,
            platforms=platforms,
            acquisitions=acquisitions,
            reports=report_files(settings)[:24],
        )

    async def report_download(request: Request) -> Response:
        period, name = request.path_params["period"], request.path_params["name"]
        for folder, file_name, _size in report_files(settings):
            if (folder, file_name) == (period, name):  # only files the listing shows
                path = Path(settings.data_dir) / "reports" / "subscription-report" / folder
                return FileResponse(
                    path / file_name,
                    filename=file_name,
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                )
        return Response("no such report", status_code=404)

    return [
        Route("/subscriptions", subscriptions_page),
        Route("/subscriptions/reports/{period}/{name}", report_download),
    ]
