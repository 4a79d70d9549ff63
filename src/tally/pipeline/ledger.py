"""The run ledger: one row per pipeline step (the table's SQL: ``warehouse.meta.runs``).

A step is written as ``running`` when it starts and updated when it ends. It also names
its owner: host, process id and the process's start time (from ``/proc``, so a process id
used again by another program is not taken for the owner). A process killed mid-step
(SIGKILL, power loss) never writes its end; ``abandon_dead_steps``, run when any tally
command opens the warehouse, marks such a step ``abandoned`` when its owner on this host
is gone.

A step owned by another host cannot be seen from here. On a warehouse that several hosts
share (one without ``single_writer_process``: PostgreSQL, Redshift), a running step
refreshes its ``heartbeat_at`` every ``HEARTBEAT_SECONDS`` from a thread of its own, and a
step of another host whose heartbeat is older than ``STALE_SECONDS`` counts as dead. The
two hosts' clocks are compared, so they must agree to well within ``STALE_SECONDS`` (NTP
does). A DuckDB file has one writing process, on one host: no heartbeat is needed there.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tally.errors import NotReadyError
from tally.warehouse import Warehouse
from tally.warehouse.meta import runs

# not_ready: the origin has not published the partition yet (NotReadyError); retried on
# schedule, and an alert only once the dataset's deadline has passed (pipeline.run)
STATUSES = ("running", "ok", "failed", "skipped", "abandoned", "not_ready")

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 60.0
STALE_SECONDS = 5 * HEARTBEAT_SECONDS  # five missed beats


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
    # a remark that is no error (a model rebuilt fully by a daily build says why)
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
        heartbeat = None
        if not self.warehouse.capabilities.single_writer_process:
            heartbeat = Heartbeat(self.warehouse, step.step_id)
        try:
            yield step
        except BaseException as error:
            step.status = "not_ready" if isinstance(error, NotReadyError) else "failed"
            step.error = f"{type(error).__name__}: {error}"
            if not isinstance(error, Exception):
                step.error += "\n" + traceback.format_exc(limit=3)
            self._finish(step, heartbeat)
            raise
        if step.ended_at is not None:  # ``finish`` wrote its end already
            if heartbeat is not None:
                heartbeat.stop()
            return
        if step.status == "running":
            step.status = "ok"
        self._finish(step, heartbeat)

    def finish(self, step: Step) -> None:
        """Write the end of a step of this ledger now, ``ok`` unless said otherwise: as the
        last statement of the step's transaction, its end commits with its work, in one
        commit instead of two (a DuckDB file then checkpoints once, not again for the
        ledger's row on closing). The step's block then writes nothing more; an exception
        after this (the commit failing) still marks the step failed."""
        if step.status == "running":
            step.status = "ok"
        self._finish(step, None)

    def _insert(self, step: Step) -> None:
        host, pid, started = owner()
        runs.insert_step(
            self.warehouse,
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
                step.started_at,
            ],
        )

    def _finish(self, step: Step, heartbeat: Heartbeat | None) -> None:
        if heartbeat is not None:
            heartbeat.stop()
        step.ended_at = utc_now()
        runs.finish_step(
            self.warehouse,
            step.step_id,
            [
                step.ended_at,
                step.status,
                step.rows_in,
                step.rows_out,
                step.rows_quarantined,
                step.rows_duplicate,
                step.bytes,
                step.error,
                step.note,
            ],
        )

    def recent(self, limit: int = 20) -> list[dict[str, object]]:
        return runs.recent_steps(self.warehouse, limit)


class Heartbeat:
    """Refreshes one running step's ``heartbeat_at`` every ``HEARTBEAT_SECONDS`` until
    stopped. A beat that fails (a busy or unreachable warehouse) is skipped, not fatal: the
    step's own work decides its outcome."""

    def __init__(self, warehouse: Warehouse, step_id: str) -> None:
        self.warehouse = warehouse
        self.step_id = step_id
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="tally-heartbeat", daemon=True)
        self.thread.start()

    def _beat(self) -> None:
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            try:
                runs.beat(self.warehouse, self.step_id, utc_now())
            except Exception as error:  # noqa: BLE001 - a missed beat is only logged
                log.debug("heartbeat of step %s skipped: %s", self.step_id, error)

    def stop(self) -> None:
        # A beat waiting for a lock the step's own transaction holds must not hold up the
        # step's end, so the wait is short; a late beat only touches a running row.
        self.stopped.set()
        self.thread.join(timeout=1.0)


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


def heartbeat_stopped(host: str | None, heartbeat_at: dt.datetime | None) -> bool:
    """True when a step of another host has not refreshed its heartbeat for STALE_SECONDS
    (steps of this host are judged by their process; rows without a heartbeat are not)."""
    if host == socket.gethostname() or heartbeat_at is None:
        return False
    return utc_now() - heartbeat_at > dt.timedelta(seconds=STALE_SECONDS)


def abandon_dead_steps(warehouse: Warehouse) -> int:
    """Mark ``abandoned`` every ``running`` step whose owning process has died (this host)
    or whose heartbeat stopped (another host); returns how many. Rows written before steps
    named their owner are left as they are."""
    found = runs.running_steps(warehouse)
    noticed = utc_now().isoformat(timespec="seconds")
    dead = 0
    for step_id, host, pid, started, heartbeat_at in found:
        if not owner_alive(host, pid, started):
            reason = f"process {pid} on {host} ended without finishing this step"
        elif heartbeat_stopped(host, heartbeat_at):
            reason = f"process {pid} on {host} stopped its heartbeat at {heartbeat_at} UTC"
        else:
            continue
        dead += 1
        runs.abandon(warehouse, step_id, f"{reason} (found at {noticed} UTC)")
    if dead:
        log.warning("marked %d ledger step(s) of dead processes abandoned", dead)
    return dead
