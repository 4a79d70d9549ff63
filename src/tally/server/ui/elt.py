"""ELT monitoring (the seed's ELT-PRD dashboard): datasets, runs, quarantine, failures."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tally.config import Settings
from tally.server.metrics import DatasetStatus, dataset_statuses, scheduled_partitions
from tally.server.ui.access import page_queries, warehouse_of
from tally.server.ui.render import Panel, bars, lines, page
from tally.warehouse import Warehouse

DAY_CHOICES = (7, 14, 30, 90)
# abandoned: the step's process died mid-step (tally.pipeline.ledger.abandon_dead_steps)
STATUS_ORDER = ("ok", "failed", "abandoned", "not_ready", "running", "skipped")
# A step's day: its partition's day, or the day it ran for steps without one (builds).
DAY = "coalesce(partition_date, CAST(started_at AS DATE))"
# Seconds between start and end, in a form both DuckDB and PostgreSQL (via sqlglot) accept.
DURATION = "date_diff('millisecond', started_at, ended_at) / 1000.0"


def _days(request: Request) -> int:
    try:
        days = int(request.query_params.get("days", "14"))
    except ValueError:
        return 14
    return days if days in DAY_CHOICES else 14


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def overview_panels(
    warehouse: Warehouse,
    days: int,
    source: str = "",
    scheduled: dict[str, dt.date] | None = None,
) -> list[Panel]:
    """Every panel of the ELT page for the last ``days`` days: a step counts on its partition's
    day (its start's UTC day when it has none), the day the charts draw it on."""
    since = dt.datetime.combine(_today() - dt.timedelta(days=days - 1), dt.time())
    where = f"{DAY} >= ?" + (" AND source = ?" if source else "")
    params: list[object] = [since.date(), source] if source else [since.date()]
    statuses = [
        s
        for s in dataset_statuses(warehouse, scheduled=scheduled)
        if not source or s.source == source
    ]
    # every day of the window on the x axis, quiet days too: "last 14 days" draws 14 days,
    # not the span plotly picks around the few days that have steps
    window = [since.date() + dt.timedelta(days=offset) for offset in range(days)]
    return [
        _datasets_panel(statuses),
        _runs_per_day(warehouse, where, params, window),
        _duration_per_day(warehouse, where, params, window),
        _rows_per_day(warehouse, where, params, window),
        _quarantine_panel(warehouse, since, source),
        _failures_panel(warehouse, where, params),
        _recent_runs(warehouse, where, params),
    ]


def _datasets_panel(statuses: list[DatasetStatus]) -> Panel:
    rows = [
        [
            s.source,
            s.dataset,
            s.last_partition,
            s.expected_partition,
            s.freshness,
            s.days_behind,
            s.last_landed_at,
            s.last_load_status,
            s.rows_loaded,
            s.quarantined,
            s.failures,
        ]
        for s in statuses
    ]
    return Panel(
        "datasets",
        "Sources and datasets",
        [
            "source",
            "dataset",
            "last partition",
            "expected",
            "freshness",
            "days behind",
            "last landed (UTC)",
            "last load",
            "rows loaded",
            "quarantined",
            "failed loads",
        ],
        rows,
        note="Expected: the partition the source's schedule asked for last (a source without "
        "a schedule: yesterday, UTC).",
    )


def _runs_per_day(
    warehouse: Warehouse, where: str, params: list[object], window: list[dt.date]
) -> Panel:
    found = warehouse.rows(
        f"SELECT {DAY} AS day, status, count(*) FROM tally_meta.runs "
        f"WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2",
        params,
    )
    days = window
    counts = {(row[0], row[1]): int(row[2]) for row in found}
    statuses = [s for s in STATUS_ORDER if any(row[1] == s for row in found)]
    series = {s: [counts.get((d, s), 0) for d in days] for s in statuses}
    rows = [[d, *[counts.get((d, s), 0) for s in statuses]] for d in sorted({r[0] for r in found})]
    return Panel(
        "runs",
        "Steps per day by status",
        ["day", *statuses],
        rows,
        lines([d.isoformat() for d in days], series, kind="bar"),
    )


def _duration_per_day(
    warehouse: Warehouse, where: str, params: list[object], window: list[dt.date]
) -> Panel:
    found = warehouse.rows(
        f"SELECT {DAY}, job, count(*), avg({DURATION}), max({DURATION}) "
        f"FROM tally_meta.runs WHERE {where} AND ended_at IS NOT NULL "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        params,
    )
    days = window
    jobs = sorted({row[1] for row in found})
    worst = {(row[0], row[1]): float(row[4] or 0) for row in found}
    series = {f"{job} (max s)": [worst.get((d, job)) for d in days] for job in jobs}
    rows = [
        [r[0], r[1], int(r[2]), round(float(r[3] or 0), 3), round(float(r[4] or 0), 3)]
        for r in found
    ]
    return Panel(
        "duration",
        "Step duration per day (seconds)",
        ["day", "job", "steps", "mean seconds", "max seconds"],
        rows,
        lines([d.isoformat() for d in days], series),
    )


def _rows_per_day(
    warehouse: Warehouse, where: str, params: list[object], window: list[dt.date]
) -> Panel:
    found = warehouse.rows(
        f"SELECT {DAY}, source, sum(coalesce(rows_out, 0)), "
        "sum(coalesce(rows_quarantined, 0)), sum(coalesce(rows_duplicate, 0)) "
        "FROM tally_meta.runs "
        f"WHERE {where} AND job = 'load' GROUP BY 1, 2 ORDER BY 1, 2",
        params,
    )
    days = window
    sources = sorted({row[1] for row in found})
    loaded = {(row[0], row[1]): int(row[2]) for row in found}
    series = {s: [loaded.get((d, s), 0) for d in days] for s in sources}
    return Panel(
        "rows",
        "Rows loaded per day by source",
        ["day", "source", "rows loaded", "rows quarantined", "duplicates"],
        [[r[0], r[1], int(r[2]), int(r[3]), int(r[4])] for r in found],
        lines([d.isoformat() for d in days], series),
    )


def _quarantine_panel(warehouse: Warehouse, since: dt.datetime, source: str) -> Panel:
    where = "quarantined_at >= ?" + (" AND source = ?" if source else "")
    params: list[object] = [since, source] if source else [since]
    found = warehouse.rows(
        "SELECT source, coalesce(dataset, ''), reason, count(*), min(file), min(line) "
        f"FROM tally_meta.quarantine WHERE {where} GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2 "
        "LIMIT 50",
        params,
    )
    labels = [f"{r[0]}/{r[1]}: {r[2][:40]}" for r in found]
    return Panel(
        "quarantine",
        "Quarantined rows by reason",
        ["source", "dataset", "reason", "rows", "first file", "first line"],
        [list(r) for r in found],
        bars(labels, [int(r[3]) for r in found]) if found else None,
    )


def _failures_panel(warehouse: Warehouse, where: str, params: list[object]) -> Panel:
    found = warehouse.rows(
        "SELECT run_id, started_at, job, source, dataset, partition_date, attempt, status, "
        f"error FROM tally_meta.runs WHERE {where} AND status IN ('failed', 'abandoned') "
        "ORDER BY started_at DESC LIMIT 50",
        params,
    )
    return Panel(
        "failures",
        "Failures and abandoned steps",
        [
            "run",
            "started (UTC)",
            "job",
            "source",
            "dataset",
            "partition",
            "attempt",
            "status",
            "error",
        ],  # fmt: skip
        [list(r) for r in found],
        links={0: "/elt/runs/{}"},
    )


def _recent_runs(warehouse: Warehouse, where: str, params: list[object]) -> Panel:
    found = warehouse.rows(
        "SELECT run_id, min(started_at), max(ended_at), count(*), "
        "sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN status = 'abandoned' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN status = 'running' THEN 1 ELSE 0 END), sum(coalesce(rows_out, 0)) "
        f"FROM tally_meta.runs WHERE {where} GROUP BY run_id ORDER BY 2 DESC LIMIT 30",
        params,
    )
    return Panel(
        "recent",
        "Recent runs",
        [
            "run",
            "started (UTC)",
            "ended (UTC)",
            "steps",
            "failed",
            "abandoned",
            "running",
            "rows out",
        ],  # fmt: skip
        [[r[0], r[1], r[2], *(int(v) for v in r[3:8])] for r in found],
        links={0: "/elt/runs/{}"},
    )


def run_panels(warehouse: Warehouse, run_id: str) -> list[Panel]:
    steps = warehouse.rows(
        "SELECT job, source, dataset, partition_date, started_at, "
        f"{DURATION}, status, rows_in, rows_out, rows_quarantined, rows_duplicate, bytes, "
        "attempt, error "
        "FROM tally_meta.runs WHERE run_id = ? ORDER BY started_at, step_id",
        [run_id],
    )
    quarantined = warehouse.rows(
        "SELECT source, dataset, file, line, field, reason, raw FROM tally_meta.quarantine "
        "WHERE run_id = ? ORDER BY file, line LIMIT 500",
        [run_id],
    )
    timed = [s for s in steps if s[5] is not None]
    labels = [f"{s[0]} {s[1] or ''}/{s[2] or ''} {s[3] or ''}".strip() for s in timed]
    return [
        Panel(
            "steps",
            "Steps",
            [
                "job",
                "source",
                "dataset",
                "partition",
                "started (UTC)",
                "seconds",
                "status",
                "rows in",
                "rows out",
                "quarantined",
                "duplicates",
                "bytes",
                "attempt",
                "error",
            ],
            [list(s) for s in steps],
            bars(labels, [round(float(s[5]), 3) for s in timed]) if timed else None,
        ),
        Panel(
            "quarantined",
            "Quarantined rows of this run",
            ["source", "dataset", "file", "line", "field", "reason", "raw"],
            [list(q) for q in quarantined],
        ),
    ]


def routes(settings: Settings) -> list[Route]:
    async def elt_page(request: Request) -> Response:
        days = _days(request)
        source = request.query_params.get("source", "")
        warehouse = warehouse_of(request)

        def compute() -> list[Panel]:
            return overview_panels(warehouse, days, source, scheduled_partitions(settings))

        panels = await page_queries(request, compute)
        sources = sorted({row[0] for row in panels[0].rows})
        return page(
            request,
            "elt.html",
            title="ELT monitoring",
            area="elt",
            panels=panels,
            days=days,
            day_choices=DAY_CHOICES,
            source=source,
            sources=sources,
        )

    return [Route("/elt", elt_page), Route("/elt/runs/{run_id}", run_page)]


async def run_page(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    warehouse = warehouse_of(request)
    panels = await page_queries(request, lambda: run_panels(warehouse, run_id))
    if not panels[0].rows:
        return page(
            request,
            "message.html",
            title="Run not found",
            area="elt",
            message=f"No run {run_id} in the ledger.",
            status_code=404,
        )
    return page(
        request, "message.html", title=f"Run {run_id}", area="elt", panels=panels, message=""
    )
