"""The run ledger: one row per pipeline step in ``tally_meta.runs``.

A step is written as ``running`` when it starts and updated when it ends. It also names
its owner: host, process id and the process's start time (from ``/proc``, so a process id
used again by another program is not taken for the owner). A process killed mid-step
(SIGKILL, power loss) never writes its end; ``abandon_dead_steps``, run when any tally
command opens the warehouse, marks such a step ``abandoned`` when its owner on this host
is gone. A step owned by another host is left ``running``: its process cannot be seen
from here.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tally.errors import NotReadyError
from tally.warehouse import Warehouse

# not_ready: the origin has not published the partition yet (NotReadyError); retried on
# schedule, and an alert only once the dataset's deadline has passed (pipeline.run)
STATUSES = ("running", "ok", "failed", "skipped", "abandoned", "not_ready")

log = logging.getLogger(__name__)


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
            step.status = "not_ready" if isinstance(error, NotReadyError) else "failed"
            step.error = f"{type(error).__name__}: {error}"
            if not isinstance(error, Exception):
                step.error += "\n" + traceback.format_exc(limit=3)
            self._finish(step)
            raise
        if step.status == "running":
            step.status = "ok"
        self._finish(step)

    def _insert(self, step: Step) -> None:
        host, pid, started = owner()
        self.warehouse.execute(
            "INSERT INTO tally_meta.runs (run_id, step_id, job, source, dataset, partition_date, "
            "started_at, status, attempt, owner_host, owner_pid, owner_started) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                host,
                pid,
                started,
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


def process_started(pid: int) -> int | None:
    """When a process started (clock ticks since boot, ``/proc/<pid>/stat`` field 22);
    None if it does not exist, is a zombie, or there is no ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the name in (...) may hold spaces
    if fields[0] in ("Z", "X"):  # dead, waiting to be reaped
        return None
    return int(fields[19])


def owner() -> tuple[str, int, int | None]:
    """This process as a step's owner: host name, process id, start time."""
    pid = os.getpid()
    return socket.gethostname(), pid, process_started(pid)


def owner_alive(host: str | None, pid: int | None, started: int | None) -> bool:
    """False only when the owner is known to be gone: on this host, and no process with
    its id (or one started at another time) exists."""
    if host != socket.gethostname() or pid is None:
        return True
    if started is not None and os.path.exists("/proc"):
        return process_started(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def abandon_dead_steps(warehouse: Warehouse) -> int:
    """Mark ``abandoned`` every ``running`` step whose owning process has died; returns how
    many. Rows written before steps named their owner are left as they are."""
    found = warehouse.rows(
        "SELECT step_id, owner_host, owner_pid, owner_started FROM tally_meta.runs "
        "WHERE status = 'running' AND owner_pid IS NOT NULL"
    )
    dead = [row for row in found if not owner_alive(row[1], row[2], row[3])]
    noticed = utc_now().isoformat(timespec="seconds")
    for step_id, host, pid, _started in dead:
        warehouse.execute(
            "UPDATE tally_meta.runs SET status = 'abandoned', error = ? "
            "WHERE step_id = ? AND status = 'running'",
            [f"process {pid} on {host} ended without finishing this step "
             f"(found at {noticed} UTC)", step_id],
        )  # fmt: skip
    if dead:
        log.warning("marked %d ledger step(s) of dead processes abandoned", len(dead))
    return len(dead)
