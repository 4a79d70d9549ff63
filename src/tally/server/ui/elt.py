"""ELT monitoring (the seed's ELT-PRD dashboard): datasets, runs, quarantine, failures."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tally.config import Settings
from tally.server.metrics import DatasetStatus, dataset_statuses, scheduled_partitions
from tally.server.ui.access import page_queries, warehouse_of
from tally.server.ui.render import Panel, bars, lines, page
from tally.warehouse import Warehouse
from tally.warehouse.meta import quarantine
from tally.warehouse.meta import runs as ledger

DAY_CHOICES = (7, 14, 30, 90)
# abandoned: the step's process died mid-step (tally.pipeline.ledger.abandon_dead_steps)
STATUS_ORDER = ("ok", "failed", "abandoned", "not_ready", "running", "skipped")
# A step's day: its partition's day, or the day it ran for steps without one (builds).
# Seconds between start and end, in a form both DuckDB and PostgreSQL (via sqlglot) accept.


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
        _runs_per_day(ledger.steps_per_day(warehouse, since.date(), source), window),
        _duration_per_day(ledger.durations_per_day(warehouse, since.date(), source), window),
        _rows_per_day(ledger.rows_per_day(warehouse, since.date(), source), window),
        _quarantine_panel(quarantine.reasons_since(warehouse, since, source)),
        _failures_panel(ledger.failures(warehouse, since.date(), source)),
        _recent_runs(ledger.recent_runs(warehouse, since.date(), source)),
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


def _runs_per_day(found: list[tuple[Any, ...]], window: list[dt.date]) -> Panel:
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


def _duration_per_day(found: list[tuple[Any, ...]], window: list[dt.date]) -> Panel:
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


def _rows_per_day(found: list[tuple[Any, ...]], window: list[dt.date]) -> Panel:
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


def _quarantine_panel(found: list[tuple[Any, ...]]) -> Panel:
    labels = [f"{r[0]}/{r[1]}: {r[2][:40]}" for r in found]
    return Panel(
        "quarantine",
        "Quarantined rows by reason",
        ["source", "dataset", "reason", "rows", "first file", "first line"],
        [list(r) for r in found],
        bars(labels, [int(r[3]) for r in found]) if found else None,
    )


def _failures_panel(found: list[tuple[Any, ...]]) -> Panel:
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


def _recent_runs(found: list[tuple[Any, ...]]) -> Panel:
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
    steps = ledger.steps_of_run(warehouse, run_id)
    quarantined = quarantine.rows_of_run(warehouse, run_id)
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
                "note",
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
