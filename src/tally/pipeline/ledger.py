"""The run ledger: one row per pipeline step in ``tally_meta.runs``.

A step is written as ``running`` when it starts and updated when it ends, so a crashed
step stays visible as ``running`` with no end time.
"""

from __future__ import annotations

import datetime as dt
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tally.warehouse import Warehouse

STATUSES = ("running", "ok", "failed", "skipped")


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class Step:
    run_id: str
    job: str
    source: str | None = None
    dataset: str | None = None
    partition_date: dt.date | None = None
    step_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: dt.datetime = field(default_factory=utc_now)
    ended_at: dt.datetime | None = None
    status: str = "running"
    rows_in: int | None = None
    rows_out: int | None = None
    rows_quarantined: int | None = None
    # rows repeating an event key loaded before (datasets with event ids; docs/metrics.md)
    rows_duplicate: int | None = None
    bytes: int | None = None
    attempt: int = 1
    error: str | None = None
    note: str | None = None


class Ledger:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    @contextmanager
    def step(
        self,
        run_id: str,
        job: str,
        source: str | None = None,
        dataset: str | None = None,
        partition_date: dt.date | None = None,
        attempt: int = 1,
    ) -> Iterator[Step]:
        """Record one step; an exception marks it failed (with its text) and propagates."""
        step = Step(run_id, job, source, dataset, partition_date, attempt=attempt)
        self._insert(step)
        try:
            yield step
        except BaseException as error:
            step.status = "failed"
            step.error = f"{type(error).__name__}: {error}"
            if not isinstance(error, Exception):
                step.error += "\n" + traceback.format_exc(limit=3)
            self._finish(step)
            raise
        if step.status == "running":
            step.status = "ok"
        self._finish(step)

    def _insert(self, step: Step) -> None:
        self.warehouse.execute(
            "INSERT INTO tally_meta.runs (run_id, step_id, job, source, dataset, partition_date, "
            "started_at, status, attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                step.run_id,
                step.step_id,
                step.job,
                step.source,
                step.dataset,
                step.partition_date,
                step.started_at,
                step.status,
                step.attempt,
            ],
        )

    def _finish(self, step: Step) -> None:
        step.ended_at = utc_now()
        self.warehouse.execute(
            "UPDATE tally_meta.runs SET ended_at = ?, status = ?, rows_in = ?, rows_out = ?, "
            "rows_quarantined = ?, rows_duplicate = ?, bytes = ?, error = ? WHERE step_id = ?",
            [
                step.ended_at,
                step.status,
                step.rows_in,
                step.rows_out,
                step.rows_quarantined,
                step.rows_duplicate,
                step.bytes,
                step.error,
                step.step_id,
            ],
        )

    def recent(self, limit: int = 20) -> list[dict[str, object]]:
        table = self.warehouse.query(
            "SELECT run_id, job, source, dataset, partition_date, started_at, ended_at, status, "
            "rows_in, rows_out, rows_quarantined, rows_duplicate, bytes, error "
            "FROM tally_meta.runs "
            "ORDER BY started_at DESC, step_id LIMIT ?",
            [limit],
        )
        return table.to_pylist()
