"""``tally_meta.runs``: the run ledger, one row per pipeline step (written by
``pipeline.ledger``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tally.warehouse.base import Warehouse
from tally.warehouse.meta import meta_sql

TABLE = "tally_meta.runs"


def exists(warehouse: Warehouse) -> bool:
    """Whether the ledger is there (a warehouse not migrated yet has none)."""
    return warehouse.table_exists(TABLE)


def finished_since(warehouse: Warehouse, columns: str, after: dt.datetime) -> list[tuple[Any, ...]]:
    """``columns`` of the steps that ended at or after ``after``, in the order they ended."""
    return warehouse.rows(
        f"SELECT {columns} FROM {TABLE} WHERE ended_at IS NOT NULL "
        "AND ended_at >= ? ORDER BY ended_at, step_id",
        [after],
    )


def attempts(warehouse: Warehouse, job: str, source: str, since: dt.date) -> list[tuple[Any, ...]]:
    """(partition, status, steps) of one job and source from a day on."""
    return warehouse.rows(meta_sql("run_attempts"), [job, source, since])


def running_partitions(warehouse: Warehouse, job: str, source: str, since: dt.date) -> set[dt.date]:
    """Partitions of one job and source, from a day on, with a step running now."""
    rows = warehouse.rows(
        f"SELECT DISTINCT partition_date FROM {TABLE} "
        "WHERE job = ? AND source = ? AND partition_date >= ? AND status = 'running'",
        [job, source, since],
    )
    return {row[0] for row in rows}


def latest_ingests(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """(source, dataset or '', newest partition, newest end) of successful ingest steps."""
    return warehouse.rows(meta_sql("latest_ingests"))


def load_totals(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """(source, dataset or '', rows loaded by good loads, failed loads) per dataset."""
    return warehouse.rows(meta_sql("load_totals"))


def latest_load_status(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """(source, dataset or '', status, started_at) of each dataset's newest load step."""
    return warehouse.rows(meta_sql("latest_load_status"))


def latest_finished_loads(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """(source, dataset, status, partition, error) of each dataset's newest finished load."""
    return warehouse.rows(meta_sql("latest_finished_loads"))


def step_counts(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """(job, source, dataset, status, steps) over the whole ledger."""
    return warehouse.rows(meta_sql("step_counts"))


# -- the ELT dashboard: steps counted on their partition's day (the start's UTC day when
# they have none), from a day on, of one source or all

DAY = "coalesce(partition_date, CAST(started_at AS DATE))"
DURATION = "date_diff('millisecond', started_at, ended_at) / 1000.0"


def _window(since: dt.date, source: str) -> tuple[str, list[object]]:
    where = f"{DAY} >= ?" + (" AND source = ?" if source else "")
    return where, [since, source] if source else [since]


def steps_per_day(warehouse: Warehouse, since: dt.date, source: str) -> list[tuple[Any, ...]]:
    """(day, status, steps)."""
    where, params = _window(since, source)
    return warehouse.rows(meta_sql("steps_per_day", day=DAY, where=where), params)


def durations_per_day(warehouse: Warehouse, since: dt.date, source: str) -> list[tuple[Any, ...]]:
    """(day, job, finished steps, mean seconds, max seconds)."""
    where, params = _window(since, source)
    sql = meta_sql("durations_per_day", day=DAY, duration=DURATION, where=where)
    return warehouse.rows(sql, params)


def rows_per_day(warehouse: Warehouse, since: dt.date, source: str) -> list[tuple[Any, ...]]:
    """(day, source, rows loaded, rows quarantined, duplicates) of load steps."""
    where, params = _window(since, source)
    return warehouse.rows(meta_sql("rows_per_day", day=DAY, where=where), params)


def failures(warehouse: Warehouse, since: dt.date, source: str) -> list[tuple[Any, ...]]:
    """The newest 50 failed or abandoned steps: (run, started, job, source, dataset,
    partition, attempt, status, error)."""
    where, params = _window(since, source)
    return warehouse.rows(
        "SELECT run_id, started_at, job, source, dataset, partition_date, attempt, status, "
        f"error FROM {TABLE} WHERE {where} AND status IN ('failed', 'abandoned') "
        "ORDER BY started_at DESC LIMIT 50",
        params,
    )


def recent_runs(warehouse: Warehouse, since: dt.date, source: str) -> list[tuple[Any, ...]]:
    """The newest 30 runs: (run, started, ended, steps, failed, abandoned, running, rows)."""
    where, params = _window(since, source)
    return warehouse.rows(meta_sql("recent_runs", where=where), params)


def steps_of_run(warehouse: Warehouse, run_id: str) -> list[tuple[Any, ...]]:
    """Every step of one run, in the order they started."""
    return warehouse.rows(meta_sql("steps_of_run", duration=DURATION), [run_id])


# -- the ledger's own writes (pipeline.ledger)

STEP_COLUMNS = (
    "run_id, step_id, job, source, dataset, partition_date, started_at, status, attempt, "
    "owner_host, owner_pid, owner_started, heartbeat_at"
)
RESULT_COLUMNS = (
    "ended_at",
    "status",
    "rows_in",
    "rows_out",
    "rows_quarantined",
    "rows_duplicate",
    "bytes",
    "error",
    "note",
)


def insert_step(warehouse: Warehouse, values: list[object]) -> None:
    """A step that starts: ``values`` in the order of ``STEP_COLUMNS``."""
    marks = ", ".join("?" * len(values))
    warehouse.execute(f"INSERT INTO {TABLE} ({STEP_COLUMNS}) VALUES ({marks})", values)


def finish_step(warehouse: Warehouse, step_id: str, values: list[object]) -> None:
    """A step's end: ``values`` in the order of ``RESULT_COLUMNS``."""
    assignments = ", ".join(f"{column} = ?" for column in RESULT_COLUMNS)
    warehouse.execute(f"UPDATE {TABLE} SET {assignments} WHERE step_id = ?", [*values, step_id])


def beat(warehouse: Warehouse, step_id: str, at: dt.datetime) -> None:
    """A running step's heartbeat."""
    warehouse.execute(
        f"UPDATE {TABLE} SET heartbeat_at = ? WHERE step_id = ? AND status = 'running'",
        [at, step_id],
    )


def recent_steps(warehouse: Warehouse, limit: int) -> list[dict[str, object]]:
    """The newest steps, as dicts."""
    table = warehouse.query(meta_sql("recent_steps"), [limit])
    steps: list[dict[str, object]] = table.to_pylist()
    return steps


def running_steps(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """(step, owner host, owner pid, owner start, heartbeat) of steps running with an owner."""
    return warehouse.rows(
        "SELECT step_id, owner_host, owner_pid, owner_started, heartbeat_at "
        f"FROM {TABLE} WHERE status = 'running' AND owner_pid IS NOT NULL"
    )


def abandon(warehouse: Warehouse, step_id: str, reason: str) -> None:
    """Mark a step still running abandoned, with the reason."""
    warehouse.execute(
        f"UPDATE {TABLE} SET status = 'abandoned', error = ? "
        "WHERE step_id = ? AND status = 'running'",
        [reason, step_id],
    )
