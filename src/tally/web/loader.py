"""Move hit-log records into ``web.hits`` exactly once, enriching them on the way.

Per batch: read complete records after the segment's loaded offset, parse and enrich them,
then in ONE transaction insert them into ``web.hits`` and advance the segment's row
(``warehouse.meta.hitlog``). A crash before the commit leaves the offset
where it was (the batch is read again); after it, the offset has moved with the rows.
``hit_id`` (segment:offset) is the primary key, so a bug could never double a row silently.

One loader runs at a time (the server's background task, or ``load_hits`` called directly
when no server runs on the same log).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import json.scanner
import logging
import multiprocessing
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tally.config import Settings, WebSettings
from tally.warehouse import Warehouse
from tally.warehouse.meta import hitlog, quarantine
from tally.web.enrich import Network, anonymise_ip, detect_device, network_of
from tally.web.hitlog import Record, Scan, read_segment, segment_paths
from tally.web.pageurl import search_in_url
from tally.web.params import (
    ATTRIBUTION_NAMES,
    ATTRIBUTION_PARAMS,
    DIMENSION,
    MAX_VALUE_LENGTH,
    PERFORMANCE,
    PERFORMANCE_NAMES,
    Rejected,
    custom_dimensions,
    decoded_value,
    ecommerce_facts,
    last_value,
    parse_hit,
    parse_query,
    quick_pattern_re2,
)
from tally.web.referrers import (
    Referrer,
    attribution,
    classify,
    hosts_of,
    without_excluded_params,
)
from tally.web.sessions import (
    DaySalts,
    SessionizeResult,
    draw_salts,
    forget_salts,
    sessionize,
)
from tally.web.sites import SEARCH_KEYWORD_PARAMETERS, list_sites

logger = logging.getLogger(__name__)

SCHEMA = pa.schema(
    [
        ("hit_id", pa.string()),
        ("idsite", pa.int32()),
        ("received_at", pa.timestamp("us")),
        ("hit_time", pa.timestamp("us")),
        ("visitor_id", pa.string()),
        ("user_id", pa.string()),
        ("kind", pa.string()),
        ("url", pa.string()),
        ("action_name", pa.string()),
        ("urlref", pa.string()),
        ("link_url", pa.string()),
        ("search_keyword", pa.string()),
        ("search_category", pa.string()),
        ("search_count", pa.int32()),
        ("event_category", pa.string()),
        ("event_action", pa.string()),
        ("event_name", pa.string()),
        ("event_value", pa.float64()),
        ("idgoal", pa.int32()),
        ("revenue", pa.float64()),
        ("new_visit", pa.bool_()),
        ("pv_id", pa.string()),
        ("resolution", pa.string()),
        ("local_hour", pa.int32()),
        ("local_minute", pa.int32()),
        ("local_second", pa.int32()),
        ("lang", pa.string()),
        ("user_agent", pa.string()),
        ("ip", pa.string()),
        ("country", pa.string()),
        ("region", pa.string()),
        ("city", pa.string()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("provider", pa.string()),
        ("device_type", pa.string()),
        ("device_brand", pa.string()),
        ("device_model", pa.string()),
        ("os_name", pa.string()),
        ("os_version", pa.string()),
        ("browser_name", pa.string()),
        ("browser_version", pa.string()),
        ("is_bot", pa.bool_()),
        ("referrer_type", pa.string()),
        ("referrer_name", pa.string()),
        ("referrer_keyword", pa.string()),
        ("campaign_name", pa.string()),
        ("campaign_keyword", pa.string()),
        ("campaign_source", pa.string()),
        ("campaign_medium", pa.string()),
        ("custom_variables", pa.string()),
        ("dimensions", pa.string()),
        ("performance", pa.string()),
        ("transport", pa.string()),
        ("raw_query", pa.string()),
        ("ip_key", pa.string()),
        ("ecommerce", pa.string()),
        ("order_id", pa.string()),
        ("attributed_type", pa.string()),
        ("attributed_name", pa.string()),
        ("attributed_keyword", pa.string()),
        ("url_fragment", pa.string()),
    ]
)


@dataclass
class LoadResult:
    segments_read: int = 0
    loaded: int = 0
    bots_dropped: int = 0
    quarantined: int = 0
    skipped_bytes: int = 0
    segments_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Batch:
    table: pa.Table  # the batch's web.hits rows, in SCHEMA order and in log order
    quarantine: list[tuple[int, str | None, str, str]]
    bots: int = 0


@dataclass
class _Known:
    """Whether the segment has its row in the hit log's progress (meta.hitlog): set by the
    first commit, read by the next (one batch's writer to the next)."""

    value: bool


def load_hits(
    warehouse: Warehouse,
    settings: Settings,
    *,
    durable: Callable[[], tuple[str, int]] | None = None,
    now: float | None = None,
) -> LoadResult:
    """Load every complete record not loaded yet; then apply the log's retention.

    ``durable`` (from a running ``HitLog``) bounds the active segment to the bytes already
    synced, so a record is never loaded before its request could be acknowledged.

    When at least ``web.load_process_bytes`` wait to be loaded, or a child process was
    started before and is warm (``start_preparer``; ``tally serve`` starts one), the
    batches are prepared in that kept child (``_load_in_child``) while this process
    writes them; otherwise a load is prepared in this process and pays no process start.
    """
    directory = Path(settings.web.hit_log_dir)
    result = LoadResult()
    paths = segment_paths(directory) if directory.exists() else []
    if not paths:
        return result
    # one session for the whole load: this thread's salt reads and the writer thread's
    # commits share the open database instead of opening the file again each time
    commit_records = settings.web.load_commit_records
    with warehouse.session(), _Writer(warehouse, commit_records) as writer:
        positions = _positions(paths, hitlog.progress(warehouse), durable)
        result.segments_read = len(positions)
        if positions:  # an idle poll of the server's reads no sites and no salts
            _load_positions(warehouse, settings, positions, writer, result)
        writer.finish()  # the last batches commit before the retention reads the progress
    result.segments_deleted = _apply_retention(warehouse, directory, settings, now)
    return result


def _load_positions(
    warehouse: Warehouse,
    settings: Settings,
    positions: list[_Position],
    writer: _Writer,
    result: LoadResult,
) -> None:
    """Prepare every batch of ``positions`` (here, or in a child process for a large
    load) and hand each to ``writer`` to commit."""
    sites = _site_rules(warehouse)
    # a missing day's salt is drawn by the writer, in its open transaction
    salts = DaySalts.of(warehouse, lambda day: writer.call(partial(draw_salts, warehouse, day)))
    deliver = _Committer(warehouse, positions, result, writer)
    threshold = settings.web.load_process_bytes
    large = threshold and sum(p.end - p.start for p in positions) >= threshold
    if large or (threshold and _preparing()):
        _load_in_child(settings, positions, sites, salts, deliver)
    else:
        for position in positions:
            _load_segment(settings, position, sites, salts, deliver)


@dataclass
class _Position:
    path: Path
    start: int
    sealed: bool  # a later segment exists: this one will not grow
    limit: int | None  # synced bytes of the active segment, when a writer runs
    known: bool  # the segment has a row in the hit log's progress (meta.hitlog)
    complete: bool  # that row says the segment was read to its end after it was sealed
    end: int  # the segment's readable bytes when the load began


def _positions(
    paths: list[Path],
    progress: dict[str, tuple[int, bool]],
    durable: Callable[[], tuple[str, int]] | None,
) -> list[_Position]:
    """The segments with something left to load, each from where its last load stopped."""
    positions = []
    for index, path in enumerate(paths):
        sealed = index < len(paths) - 1
        start, was_sealed = progress.get(path.name, (0, False))
        limit = None
        if durable is not None and not sealed:
            name, size = durable()
            limit = size if name == path.name else None
        end_of_data = limit if limit is not None else path.stat().st_size
        if start >= end_of_data and (was_sealed or not sealed):
            continue
        known = path.name in progress
        positions.append(_Position(path, start, sealed, limit, known, was_sealed, end_of_data))
    return positions


class _Writer:
    """One thread writing prepared batches in order for a whole load, committing them in
    groups of about ``web.load_commit_records`` records.

    Writing a batch (DuckDB: the insert, the commit) runs without Python's lock and costs
    about as much CPU as preparing one (benchmarks/README.md, "where a loaded hit's CPU
    goes"), so the loading thread prepares the next batch, of the same segment or the
    next one, while this thread writes the one before: two cores share a backfill.

    Batches join one open transaction, each with its segment's new offset, until it holds
    ``commit_records`` records or the load ends: DuckDB writes a commit's rows out once,
    and ten commits of 10,000 rows cost it about half as much again as one of 100,000
    (benchmarks/README.md, issue 27, seventh session). An offset still commits with exactly
    the rows before it. A failed write rolls the open transaction back (its rows and
    offsets together) and stops the load there (its error is raised by the next ``write``,
    ``call`` or ``finish``); a failure elsewhere (preparing) first commits what was written.
    Everything the load writes goes through this thread, a salt drawn too (``call``): the
    open transaction holds the warehouse's writer lock between batches.
    """

    def __init__(self, warehouse: Warehouse, commit_records: int) -> None:
        self.warehouse, self.commit_records = warehouse, commit_records
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hit-writer")
        self.pending: Future[None] | None = None
        # the writer thread's alone: its open transaction, the records written in it and
        # the counts to add once it commits
        self.open: ExitStack | None = None
        self.held = 0
        self.on_commit: list[Callable[[], None]] = []

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *failure: object) -> None:
        try:
            self.finish()  # written before a failure elsewhere: rows and offsets agree
        finally:
            self.pool.shutdown(wait=True)

    def write(self, job: Callable[[], int], counted: Callable[[], None]) -> None:
        """Queue a batch's write (``job``, in the open transaction, gives the records it
        wrote) and ``counted``, run once they commit."""
        self.wait()  # the batch before is written first (or its error stops here)
        self.pending = self.pool.submit(self._write, job, counted)

    def call(self, job: Callable[[], _Answer]) -> _Answer:
        """``job``'s answer, run in order in the open transaction (a salt drawn)."""
        self.wait()
        return self.pool.submit(self._inside, job).result()

    def finish(self) -> None:
        """Commit what is written (the last batches, with their offsets)."""
        self.wait()
        self.pool.submit(self._commit).result()

    def wait(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def _write(self, job: Callable[[], int], counted: Callable[[], None]) -> None:
        self.held += self._inside(job)
        self.on_commit.append(counted)
        if self.held >= self.commit_records:
            self._commit()

    def _inside(self, job: Callable[[], _Answer]) -> _Answer:
        if self.open is None:
            self.open = ExitStack()
            self.open.enter_context(self.warehouse.transaction())
        try:
            return job()
        except BaseException:
            opened, self.open = self.open, None
            self.held, self.on_commit = 0, []
            opened.__exit__(*sys.exc_info())  # ROLLBACK
            raise

    def _commit(self) -> None:
        opened, self.open = self.open, None
        counted, self.on_commit = self.on_commit, []
        self.held = 0
        if opened is not None:
            _commit(opened)
        for count in counted:
            count()


_Answer = TypeVar("_Answer")


def _commit(transaction: ExitStack) -> None:
    """COMMIT the writer's open transaction: its batches' rows with their offsets."""
    transaction.close()


class _Committer:
    """Hands each prepared batch, in order, to the writer with its segment's new offset."""

    def __init__(
        self, warehouse: Warehouse, positions: list[_Position], result: LoadResult, writer: _Writer
    ) -> None:
        self.warehouse, self.result, self.writer = warehouse, result, writer
        # whether a segment has its row in meta.hitlog: set by its first write
        self.known = {p.path.name: _Known(p.known) for p in positions}

    def __call__(self, segment: str, batch: _Batch, end: int, skipped: int, complete: bool) -> None:
        known = self.known[segment]
        arguments = (segment, batch, end, skipped, complete, known)
        self.writer.write(
            partial(_write, self.warehouse, *arguments),
            partial(_count, self.result, segment, batch, skipped),
        )


# a prepared batch, its segment, the offset after it, its skipped bytes and whether it
# ends a sealed segment
Deliver = Callable[[str, _Batch, int, int, bool], None]


# a batch read and left for the loading process to prepare (``_ToParent.hand_over``): its
# segment, first byte, what was read and whether it ends a sealed segment; True when taken
HandOver = Callable[[str, int, Scan, bool], bool]


def _load_segment(
    settings: Settings,
    position: _Position,
    sites: dict[int, _SiteRules],
    salts: DaySalts,
    deliver: Deliver,
    hand_over: HandOver | None = None,
) -> None:
    """Prepare a segment batch by batch, each handed to ``deliver`` (committed while the
    next one, of this segment or the next, is prepared); in the child, a batch
    ``hand_over`` takes is left for the loading process to prepare."""
    path, start, sealed = position.path, position.start, position.sealed
    batch_size = settings.web.load_batch_records
    while True:
        found = _read_batch(position, start, position.limit, batch_size)
        if not found.records and found.end == start and (position.complete or not sealed):
            break
        last = len(found.records) < batch_size
        if hand_over is None or not hand_over(path.name, start, found, sealed and last):
            batch = _prepare(found.records, path.name, settings, sites, salts)
            deliver(path.name, batch, found.end, found.skipped_bytes, sealed and last)
        if last:
            break
        start = found.end


def _read_batch(position: _Position, start: int, limit: int | None, batch_size: int) -> Scan:
    """Up to ``batch_size`` records of the position's segment from byte ``start``."""
    with _collector_paused():  # a record is a tuple and its bytes: no cycle either
        return read_segment(
            position.path, start, sealed=position.sealed, limit=limit, max_records=batch_size
        )


def _write(
    warehouse: Warehouse,
    segment: str,
    batch: _Batch,
    end: int,
    skipped: int,
    complete: bool,
    known: _Known,
) -> int:
    """Insert one prepared batch and move its segment's offset (in the writer's open
    transaction); the records it stands for."""
    _insert(warehouse, segment, batch, end, skipped, complete, known.value)
    known.value = True
    return int(batch.table.num_rows) + batch.bots + len(batch.quarantine)


def _count(result: LoadResult, segment: str, batch: _Batch, skipped: int) -> None:
    """Count a committed batch."""
    result.loaded += batch.table.num_rows
    result.bots_dropped += batch.bots
    result.quarantined += len(batch.quarantine)
    result.skipped_bytes += skipped
    if skipped:
        logger.warning("%s: skipped %d damaged or torn bytes", segment, skipped)


# -- preparing in a second process ---------------------------------------------------------
# Preparing a batch is Python (parse, check, enrich, the Arrow table) and holds the GIL;
# writing it is DuckDB. In one process the two halves take turns; in two, a backfill uses
# two cores. 'spawn', not 'forkserver': the child is this process's own, and nothing of
# this process (an open database, the writer thread) is copied into it. The child is kept
# between loads (``start_preparer``): its start, ~3 s of CPU mostly device-detector
# compiling its patterns, is paid once a process, not once a load.
_IN_FLIGHT = 2  # batches the child may send ahead of the commits (bounds its memory)


class PrepareFailed(RuntimeError):
    """The process preparing a load's batches failed or ended early: nothing after the
    last committed batch was loaded (the next load starts there)."""


@dataclass
class _ChildJob:
    web: WebSettings  # all the loader reads of the settings (the whole tree does not pickle)
    positions: list[_Position]
    sites: dict[int, _SiteRules]
    zones: dict[int, Any]  # the sites' time zones (DaySalts.zones)
    salts: dict[dt.date, str]  # the salts drawn so far (DaySalts.known)
    share: int = 0  # every share-th batch is left to the loading process (0: none)


class _Preparer:
    """A child process preparing load jobs' batches, one job at a time, kept between
    loads; it warms its lookups (``_warm``) before it says it is ready."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, there = context.Pipe()
        self.process = context.Process(
            target=_preparer_main, args=(there,), name="hit-preparer", daemon=True
        )
        self.process.start()
        there.close()  # the child holds the other end: its death ends our reads
        self.owner = os.getpid()  # a forked copy of this process does not own the child
        self.ready = False

    def warm(self) -> bool:
        """Whether it said it is ready (a look at the pipe: never waits)."""
        if not self.ready and self.connection.poll(0):
            self.wait_ready()
        return self.ready

    def wait_ready(self) -> None:
        if not self.ready:
            message = _from_child(self.connection, self.process)
            if message[0] != "ready":
                raise PrepareFailed(f"the process preparing hits did not start:\n{message[1]}")
            self.ready = True

    def stop(self) -> None:
        self.connection.close()
        self.process.kill()
        self.process.join()


_KEPT: list[_Preparer] = []  # the kept child, when one runs
_KEPT_GUARD = threading.Lock()


def start_preparer(*, wait: bool = False) -> int:
    """Start the child process that prepares the loader's batches, unless it runs, and
    keep it: every later load of this process prepares in it, whatever its size (a load
    of at least ``web.load_process_bytes`` starts it on its own). ``tally serve`` starts
    it with the server, so its ~3 s start holds up no load. With ``wait``, return once it
    is warm. Its process id."""
    with _KEPT_GUARD:
        preparer = _kept()
        if preparer is None:
            preparer = _Preparer()
            _KEPT.append(preparer)
    if wait:
        preparer.wait_ready()
    return preparer.process.pid or 0


def stop_preparer() -> None:
    """Stop the kept child, if one runs (a later large load starts another)."""
    with _KEPT_GUARD:
        preparer = _kept()
        _KEPT.clear()
    if preparer is not None:
        preparer.stop()


def _preparing() -> bool:
    """Whether a kept child runs and is warm (then every load prepares in it; while it
    warms up, a small load is prepared here rather than wait for it)."""
    with _KEPT_GUARD:
        preparer = _kept()
    return preparer is not None and preparer.warm()


def _kept() -> _Preparer | None:
    """The kept child, when it is this process's and alive."""
    if not _KEPT:
        return None
    preparer = _KEPT[0]
    if preparer.owner != os.getpid() or not preparer.process.is_alive():
        _KEPT.clear()
        return None
    return preparer


def _load_in_child(
    settings: Settings,
    positions: list[_Position],
    sites: dict[int, _SiteRules],
    salts: DaySalts,
    deliver: Deliver,
) -> None:
    """Prepare every batch in the kept child process; commit each here, in order, as it
    comes.

    The child sends a batch as its metadata (segment, offsets, quarantined records, bots)
    then its rows as an Arrow IPC stream, and asks for a day's salt when it meets a day not
    drawn yet (salts are drawn here, in the warehouse). With ``web.load_share_batches`` set
    to N, every Nth batch it only reads and sends where it lies ("yours"): this process
    reads the same bytes and prepares it while the child prepares the next, so preparing
    (~19 µs of CPU a hit) is not left to one core while this one writes (~11 µs). Off by
    default: on 2 cores at rest it gained nothing (benchmarks/README.md, issue 27, eleventh
    session). Either way batches are delivered in the order they come.
    A failure in the child, or its death, raises ``PrepareFailed`` here after the batches
    before it are committed; a child that failed, or whose job was left unfinished, is
    stopped (the next large load starts another).
    """
    start_preparer()
    with _KEPT_GUARD:
        preparer = _kept()
    if preparer is None:
        raise PrepareFailed("the process preparing hits ended before its job")
    finished = False
    try:
        preparer.wait_ready()
        connection, process = preparer.connection, preparer.process
        share = settings.web.load_share_batches
        job = _ChildJob(settings.web, positions, sites, salts.zones, salts.known(), share)
        connection.send(("job", job))
        by_name = {position.path.name: position for position in positions}
        while True:
            message = _from_child(connection, process)
            if message[0] == "batch":
                _, segment, end, skipped, complete, quarantined, bots = message
                rows = pa.ipc.open_stream(_bytes_from_child(connection, process)).read_all()
                deliver(segment, _Batch(rows, quarantined, bots), end, skipped, complete)
                _reply(connection, ("ack",))
            elif message[0] == "yours":  # a batch the child read and left for us
                _, segment, start, end, skipped, complete, count = message
                position = by_name[segment]
                batch_size = settings.web.load_batch_records
                # the same records the child read: its end bounds the read (the rest of
                # the segment is not read again), and what was read must agree with it
                found = _read_batch(position, start, end, batch_size)
                if (found.end, found.skipped_bytes, len(found.records)) != (end, skipped, count):
                    raise PrepareFailed(
                        f"{segment} from byte {start} read differently here: "
                        f"{(found.end, found.skipped_bytes, len(found.records))} against the "
                        f"child's {(end, skipped, count)}"
                    )
                batch = _prepare(found.records, segment, settings, sites, salts)
                deliver(segment, batch, end, skipped, complete)
                _reply(connection, ("ack",))
            elif message[0] == "salt":  # drawn here, in the warehouse, and all sent back
                salts.salt(message[1])
                _reply(connection, ("salts", salts.known()))
            elif message[0] == "failed":
                raise PrepareFailed(f"preparing hits failed in the child process:\n{message[1]}")
            else:  # "done"
                finished = True
                break
    finally:
        if not finished:  # a failure there or here (a commit): the child's work is not wanted
            stop_preparer()


def _reply(connection: Connection, message: tuple[Any, ...]) -> None:
    """Send to the child; one that has stopped already said why (read next), or died."""
    with suppress(BrokenPipeError):
        connection.send(message)


def _from_child(connection: Connection, process: BaseProcess) -> Any:
    try:
        return connection.recv()
    except EOFError:
        raise _ended_early(process) from None


def _bytes_from_child(connection: Connection, process: BaseProcess) -> bytes:
    try:
        return connection.recv_bytes()
    except EOFError:
        raise _ended_early(process) from None


def _ended_early(process: BaseProcess) -> PrepareFailed:
    """The error for a child whose end of the pipe closed before it said why."""
    process.join()
    return PrepareFailed(f"the process preparing hits ended early (exit code {process.exitcode})")


class _ToParent:
    """The child's end of the pipe: batches out, salts asked for, acknowledgements in."""

    def __init__(self, connection: Connection, share: int = 0) -> None:
        self.connection = connection
        self.in_flight = 0
        self.share, self.batches = share, 0

    def hand_over(self, segment: str, start: int, found: Scan, complete: bool) -> bool:
        """Leave every ``share``-th batch for the loading process to prepare (it reads the
        same bytes again): both processes prepare, in turn, while the loading process
        commits every batch in log order. Whether this one is left."""
        self.batches += 1
        if not self.share or self.batches % self.share:
            return False
        while self.in_flight >= _IN_FLIGHT:
            self._receive()
        counts = (found.end, found.skipped_bytes, complete, len(found.records))
        self.connection.send(("yours", segment, start, *counts))
        self.in_flight += 1
        return True

    def send_batch(self, segment: str, batch: _Batch, end: int, skipped: int, done: bool) -> None:
        while self.in_flight >= _IN_FLIGHT:
            self._receive()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.table.schema) as stream:
            stream.write_table(batch.table)
        metadata = (segment, end, skipped, done, batch.quarantine, batch.bots)
        self.connection.send(("batch", *metadata))
        self.connection.send_bytes(sink.getvalue())
        self.in_flight += 1

    def salts(self, day: dt.date) -> dict[dt.date, str]:
        self.connection.send(("salt", day))
        while True:
            found = self._receive()
            if found is not None:
                return found

    def _receive(self) -> dict[dt.date, str] | None:
        message = self.connection.recv()
        if message[0] == "ack":
            self.in_flight -= 1
            return None
        found: dict[dt.date, str] = message[1]
        return found


def _preparer_main(connection: Connection) -> None:
    """The kept child process: warm up, then run each job sent until the pipe closes (or
    a job fails: it says why and ends)."""
    try:
        _warm()
        # what the child keeps for good (device-detector's compiled patterns, the address
        # databases) is left out of the cycle collector's full passes
        gc.freeze()
        connection.send(("ready",))
        while True:
            message = connection.recv()
            if not _run_job(connection, message[1]):
                break
    except (BrokenPipeError, EOFError):
        pass  # the parent stopped the child (and says why)
    except BaseException:  # noqa: BLE001 - any failure is sent, then the child ends
        with suppress(OSError):
            connection.send(("failed", traceback.format_exc()))
    finally:
        connection.close()


def _run_job(connection: Connection, job: _ChildJob) -> bool:
    """Prepare every batch of the job, in order, and send it; False when it failed."""
    parent = _ToParent(connection, job.share)
    try:
        salts = DaySalts(job.zones, job.salts, parent.salts)
        settings = Settings.model_construct(web=job.web)
        for position in job.positions:
            _load_segment(settings, position, job.sites, salts, parent.send_batch, parent.hand_over)
        while parent.in_flight:  # every acknowledgement read before the next job
            parent._receive()
    except (BrokenPipeError, EOFError):
        raise
    except BaseException:  # noqa: BLE001 - any failure is sent, then the child ends
        connection.send(("failed", traceback.format_exc()))
        return False
    connection.send(("done",))
    return True


# A user agent of each common kind (desktops, phones, tablets, a bot): parsing them
# compiles most of device-detector's patterns (its lazy regexes), which is most of a
# child's start; an agent of a kind not here compiles its patterns in the first load
_WARMING_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)


def _warm() -> None:
    """Compile device-detector's patterns, open the address databases and run one small
    batch through ``_prepare`` (its first calls: Arrow's kernels, the parsers), then
    forget the lookups' results (a load's lookups start as cold as in the loading
    process)."""
    for agent in _WARMING_AGENTS:
        detect_device(agent)
    for provider in (True, False):
        network_of("8.8.8.8", provider)
    fields = {"t": "2026-01-01T00:00:00", "ip": "8.8.8.8", "ua": _WARMING_AGENTS[0]}
    records = [
        Record(offset, json.dumps({"q": query, "auth": False, **fields}).encode())
        for offset, query in enumerate(
            ("idsite=1&rec=1&url=https%3A%2F%2Fexample.org%2F", "idsite=1&rec=1&e_c=a&e_a=b")
        )
    ]
    _prepare(records, "warm", Settings.model_construct(web=WebSettings()), {}, _NO_SALTS)
    detect_device.cache_clear()
    network_of.cache_clear()


_NO_SALTS = DaySalts({}, {}, lambda day: {})  # no site has a zone: no IP key is made


def _prepare(
    records: list[Record],
    segment: str,
    settings: Settings,
    sites: dict[int, _SiteRules],
    salts: DaySalts,
    *,
    columnwise: bool = True,
) -> _Batch:
    """``_prepare_batch`` with Python's cycle collector paused.

    A batch makes tens of thousands of short-lived objects (a dict a record, tuples,
    lists) that refer to no cycle; the collector, run by their count, traversed them and
    every long-lived object again (a full pass over device-detector's patterns now and
    then): 1-6 µs a hit of a ~30 µs preparing (busy, benchmarks/README.md). What a batch
    leaves is freed by reference counting; the collector runs again afterwards.
    """
    with _collector_paused():
        return _prepare_batch(records, segment, settings, sites, salts, columnwise=columnwise)


@dataclass
class _Pauses:
    """The collector's pauses under way in this process (several threads may prepare at
    once: the collector is process-wide), and whether it was on before the first."""

    count: int = 0
    was_enabled: bool = False


_PAUSES = _Pauses()
_PAUSES_GUARD = threading.Lock()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off inside (process-wide: another thread's cycles wait
    for the end of the batch), back on after the last pause under way ends if it was on
    before the first began: one thread's pause ending never switches it on inside
    another's."""
    with _PAUSES_GUARD:
        if _PAUSES.count == 0:
            _PAUSES.was_enabled = gc.isenabled()
            gc.disable()
        _PAUSES.count += 1
    try:
        yield
    finally:
        with _PAUSES_GUARD:
            _PAUSES.count -= 1
            if _PAUSES.count == 0 and _PAUSES.was_enabled:
                gc.enable()


def _prepare_batch(
    records: list[Record],
    segment: str,
    settings: Settings,
    sites: dict[int, _SiteRules],
    salts: DaySalts,
    *,
    columnwise: bool = True,
) -> _Batch:
    """A batch's web.hits rows (in log order), its refused records and its dropped bots.

    A record whose query the quick proof vouches for (``_vouched``: certainly valid, and
    only parameters the column-wise path knows) is described with the other such records
    of the batch, column by column (``_plain_columns``); every other record goes through
    ``_row``, hit by hit, as before. Both give the same row for a vouched hit
    (tests/web/test_loader_columns.py); ``columnwise=False`` sends every record through
    ``_row``.
    """
    stem = segment.removesuffix(".hitlog")
    rows: list[tuple[Any, ...]] = []
    row_positions: list[int] = []
    quarantined: list[tuple[int, str | None, str, str]] = []
    bots = 0

    def one_row(position: int, fields: Any) -> None:
        """``_row`` for one record: its row, a dropped bot, or the record refused."""
        nonlocal bots
        record = records[position]
        try:
            if fields is None:
                fields = json.loads(record.payload)
            row = _row(f"{stem}:{record.offset}", fields, settings, sites, salts)
        except Exception as error:  # one bad record must not stop the log from loading
            reason = error.reason if isinstance(error, Rejected) else f"unreadable record: {error}"
            field = error.field if isinstance(error, Rejected) else None
            payload = record.payload.decode("utf-8", errors="replace")
            quarantined.append((record.offset, field, reason, payload))
            return
        if row is None:
            bots += 1
            return
        rows.append(row)
        row_positions.append(position)

    shaped: list[tuple[int, dict[str, Any], _Shape]] = []
    for position, record in enumerate(records):
        try:
            fields = _decoded_record(record.payload)
        except Exception:
            one_row(position, None)  # refused there, with json's reason
            continue
        shape = _shape(fields) if columnwise else None
        if shape is None:
            one_row(position, fields)
        else:
            shaped.append((position, fields, shape))
    candidates = _Plain.of(shaped)
    vouched = _vouched(candidates)
    for index in np.nonzero(~vouched)[0].tolist():
        one_row(candidates.positions[index], candidates.fields[index])
    plain = candidates.taken(vouched)
    if not plain.positions:
        return _Batch(_table(rows), quarantined, bots)
    try:
        hit_ids = [f"{stem}:{records[position].offset}" for position in plain.positions]
        described = _plain_columns(plain, hit_ids, settings, sites, salts)
    except Exception:  # never expected; then the batch is parsed as before, hit by hit
        logger.exception("%s: the column-wise parse failed; parsing hit by hit", segment)
        described = _Described(_table([]), [], 0, list(range(len(plain.positions))))
    for index in described.others:  # a name the path does not read, or one sent twice
        one_row(plain.positions[index], plain.fields[index])
    quarantined.sort(key=itemgetter(0))  # in log order, as one pass would list them
    table = _in_log_order(_table(rows), row_positions, described.table, described.positions)
    return _Batch(table, quarantined, bots + described.bots)


# json.loads' own scanner, called straight: loads spends as long again finding the bytes'
# encoding and checking what follows the value (benchmarks/README.md, issue 27)
# (typeshed types make_scanner's argument as itself, not as the decoder it takes)
_SCAN_VALUE = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _decoded_record(payload: bytes) -> Any:
    """``json.loads(payload)``, quicker for a record as the tracking endpoint writes it
    (UTF-8, one value, nothing around it); anything else is left to json.loads itself, so
    a refused record is refused with json's own reason."""
    try:
        text = payload.decode()
        value, end = _SCAN_VALUE(text, 0)
    except (UnicodeDecodeError, StopIteration, ValueError):
        return json.loads(payload)
    if end != len(text):
        return json.loads(payload)
    return value


def _in_log_order(
    rows: pa.Table, row_positions: list[int], plain: pa.Table, plain_positions: list[int]
) -> pa.Table:
    """The two halves of a batch as one table, each row back at its record's place."""
    if not row_positions:
        return plain
    positions = row_positions + plain_positions
    order = sorted(range(len(positions)), key=positions.__getitem__)
    return pa.concat_tables([rows, plain]).take(pa.array(order, pa.int64()))


def _row(
    hit_id: str,
    record: dict[str, Any],
    settings: Settings,
    sites: dict[int, _SiteRules],
    salts: DaySalts,
) -> tuple[Any, ...] | None:
    """The web.hits row of one record (in SCHEMA order), or None for a bot hit that did not
    ask to be kept."""
    received_at = _received_at(record["t"])
    params = parse_query(record["q"])
    hit = parse_hit(
        params,
        received_at=received_at,
        authenticated=bool(record["auth"]),
        peer_ip=record.get("ip"),
        header_ua=record.get("ua"),
        header_lang=record.get("lang"),
    )
    device = detect_device(hit.user_agent)
    if device.is_bot and not hit.keep_bots:
        return None
    rules = sites.get(hit.idsite) or _SiteRules(frozenset())
    url = hit.url
    if hit.kind == "pageview" and rules.sitesearch:
        # a page URL with a site search keyword parameter is a site search (Matomo's
        # plugins/Actions/Actions/ActionSiteSearch.php; tally.web.pageurl)
        found = _site_search(hit.url, rules.keyword_parameters, rules.category_parameters)
        if found is not None:
            hit.kind = "search"
            hit.search_keyword, hit.search_category = found.keyword, found.category
            hit.search_count = found.count
            url = found.url
    fragment = None
    if not rules.keep_fragment and url and "#" in url:
        # Matomo stores page URLs without the fragment unless the site keeps them
        # (core/Tracker/PageUrl.php); the raw URL (hit.url) still gave the site search above
        # and gives the campaign below, the fragment kept apart gives URL goals theirs.
        # Outlink and download URLs (link_url) keep theirs.
        url, fragment = url.split("#", 1)
    referrer = _referrer(hit.url, hit.urlref, hit.campaign, rules.hosts)
    credited = attribution(hit.attribution, rules.hosts) if hit.attribution else None
    # The full address, before it is anonymised below (Matomo's default too); &dp=1 is
    # Matomo's switch to skip the provider (its log importer sends it).
    network = network_of(hit.client_ip, settings.web.provider_lookup)
    if params.get("dp", "0") not in ("", "0"):
        network = Network(country=network.country)
    facts = vars(hit)  # the hit is this row's alone: its attributes become the row's facts
    facts.update(
        hit_id=hit_id,
        url=_without_excluded(url, rules.excluded),
        ip_key=salts.ip_key(hit.idsite, hit.hit_time, hit.client_ip),
        country=hit.country or network.country,
        provider=network.provider,
        ip=anonymise_ip(hit.client_ip, settings.web.ip_anonymise_bytes),
        device_type=device.type,
        device_brand=device.brand,
        device_model=device.model,
        os_name=device.os_name,
        os_version=device.os_version,
        browser_name=device.browser_name,
        browser_version=device.browser_version,
        is_bot=device.is_bot,
        referrer_type=referrer.type,
        referrer_name=referrer.name,
        referrer_keyword=referrer.keyword,
        campaign_name=referrer.campaign_name,
        campaign_keyword=referrer.campaign_keyword,
        campaign_source=referrer.campaign_source,
        campaign_medium=referrer.campaign_medium,
        attributed_type=credited.type if credited else None,
        attributed_name=credited.name if credited else None,
        attributed_keyword=credited.keyword if credited else None,
        url_fragment=fragment,
        transport=record.get("via", "get"),
        raw_query=record["q"],
    )
    row: tuple[Any, ...] = _in_order(facts)
    return row


COLUMNS = tuple(SCHEMA.names)
_in_order = itemgetter(*COLUMNS)  # every column is a key of a row's facts


# A bulk shares one receive time, and a site's pages repeat their referrers: both are
# worked out once (the caches are small and bounded).
@lru_cache(maxsize=1024)
def _received_at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


_REFERRERS: dict[tuple[Any, ...], Referrer] = {}


def _referrer(
    url: str | None,
    urlref: str | None,
    campaign: dict[str, str],
    hosts: frozenset[str],
) -> Referrer:
    """``classify``, remembered: it is pure, and the key holds everything it reads."""
    key = (url, urlref, hosts, tuple(campaign.items()))
    found = _REFERRERS.get(key)
    if found is None:
        if len(_REFERRERS) > 50_000:
            _REFERRERS.clear()
        found = _REFERRERS[key] = classify(url, urlref, hosts, campaign)
    return found


# Pure functions of a page URL and the site's settings; a site's pages repeat.
_site_search = lru_cache(maxsize=16_384)(search_in_url)
_without_excluded = lru_cache(maxsize=16_384)(without_excluded_params)


# -- the column-wise path: plain hits ------------------------------------------------------
# Most hits are plain: the quick proof (``quick_site``, the pattern the tracking endpoint
# trusts) says check_hit passes, and they send only the parameters below, each once. For
# those, ``parse_hit``'s rules reduce to reading values: a batch's plain queries are split
# into name and value columns with Arrow's string functions, each value is decoded once per
# distinct value, and each user agent, address, page and referrer is described once.
_PLAIN_NAMES = frozenset(
    (
        "url urlref link download action_name r uid lang ua search search_cat e_n ping ca"
        " rand apiv _idts _idvc _viewts _idn _ref _rcn _rck _refts pdf qt realp wma fla java"
        " ag cookie dir gears gt_ms uadata pv_ts _id cid idsite rec res h m s pv_id new_visit"
        " bots send_image search_count idgoal e_v revenue e_c e_a"
    ).split()
    + list(PERFORMANCE)
)
# Names whose values are columns of web.hits (or decide one)
_READ_NAMES = (
    "url urlref link download action_name uid lang ua search search_cat search_count e_c e_a"
    " e_n e_v idgoal revenue ping ca new_visit bots pv_id res h m s _id cid"
).split()
# Rare names read hit by hit, with parse_hit's own helpers: custom dimensions, performance
# timings and matomo.js's attribution cookie.
_RARE_NAMES = PERFORMANCE_NAMES | ATTRIBUTION_NAMES
# An order or cart without any ec_* parameter (none is a plain name): parse_hit's facts.
_EMPTY_ORDER = json.dumps(ecommerce_facts({}), sort_keys=True)


# what the column-wise path reads of a record with the endpoint's shape (``_shape``): its
# query, receive time (as logged), address, user agent, language and transport
_Shape = tuple[str, str, Any, Any, Any, Any]


@dataclass
class _Plain:
    """A batch's records with the endpoint's shape (``_shape``), as columns side by side;
    once vouched for (``_vouched``), with their sites and receive times."""

    positions: list[int]  # the record's place in the batch
    fields: list[dict[str, Any]]  # the decoded record
    queries: list[str]
    times: list[str]  # the receive time as logged (``t``)
    addresses: list[Any]
    agents: list[Any]
    languages: list[Any]
    transports: list[Any]  # ``via``, "get" when absent
    texts: pa.Array | None = None  # the queries as Arrow (None: Arrow can't hold one)
    sites: list[int | None] = field(default_factory=list)
    received: list[dt.datetime | None] = field(default_factory=list)

    @classmethod
    def of(cls, shaped: list[tuple[int, dict[str, Any], _Shape]]) -> _Plain:
        """The shaped records (place in the batch, record, shape), as columns."""
        if not shaped:
            return cls([], [], [], [], [], [], [], [], pa.array([], pa.string()), [], [])
        positions, fields, shapes = zip(*shaped, strict=True)
        queries, times, addresses, agents, languages, transports = zip(*shapes, strict=True)
        return cls(
            list(positions),
            list(fields),
            list(queries),
            list(times),
            list(addresses),
            list(agents),
            list(languages),
            list(transports),
        )

    def taken(self, chosen: np.ndarray) -> _Plain:
        """The records where ``chosen`` (a mask) is true."""
        if chosen.all():
            return self
        where = np.nonzero(chosen)[0].tolist()

        def pick(values: list[_Value]) -> list[_Value]:
            return [values[index] for index in where]

        return _Plain(
            pick(self.positions),
            pick(self.fields),
            pick(self.queries),
            pick(self.times),
            pick(self.addresses),
            pick(self.agents),
            pick(self.languages),
            pick(self.transports),
            None if self.texts is None else self.texts.filter(pa.array(chosen)),
            pick(self.sites),
            pick(self.received),
        )


_Value = TypeVar("_Value")


@dataclass
class _Described:
    table: pa.Table  # the rows of the plain hits kept
    positions: list[int]  # their records' places in the batch
    bots: int  # bots left out
    others: list[int]  # the vouched hits (indexes in ``_Plain``) it gives back to ``_row``


def _shape(fields: Any) -> _Shape | None:
    """What the column-wise path reads of a decoded record with the endpoint's shape: an
    object with ``auth``, text ``q`` and ``t``, and ``ip``, ``ua``, ``lang`` and ``via``
    text or absent (``via`` as ``_row`` reads it: "get" when absent). None for anything
    else: it goes through ``_row``, which keeps its exact behaviour for it."""
    if type(fields) is not dict or "auth" not in fields:
        return None
    get = fields.get
    query, received = get("q"), get("t")
    if type(query) is not str or type(received) is not str:
        return None
    ip, agent, language, via = get("ip"), get("ua"), get("lang"), get("via", "get")
    if (
        (ip is None or type(ip) is str)
        and (agent is None or type(agent) is str)
        and (language is None or type(language) is str)
        and (via is None or type(via) is str)
    ):
        return query, received, ip, agent, language, via
    return None


# quick_site's pattern, with the event category and action taken at any value (``check_hit``
# reads them only to require both in an event: ``_parameter_columns`` checks that), for
# Arrow's RE2, which matches a batch's queries at once
_QUICK_RE2 = quick_pattern_re2(("e_c", "e_a"))


def _vouched(plain: _Plain) -> np.ndarray:
    """Which shaped records (``_shape``) the column-wise path may describe: ``quick_site``'s
    proof (events aside), for the whole batch at once, and a receive time that reads; their
    sites and receive times are set in ``plain`` (with its queries as Arrow). A record not
    vouched for goes through ``_row`` (anything odd: ``_row`` keeps its exact behaviour).

    Never raises: a record it does not vouch for is ``_row``'s to accept or refuse.
    """
    count = len(plain.queries)
    try:
        plain.texts = pa.array(plain.queries, pa.string())
        sites = _quick_sites(plain.queries, plain.texts)
    except (pa.ArrowException, UnicodeError):  # e.g. a lone surrogate: not plain text
        plain.texts, plain.sites, plain.received = None, [None] * count, [None] * count
        return np.zeros(count, bool)
    parsed: dict[str, dt.datetime | None] = {}
    for text in set(plain.times):  # a bulk's hits share theirs: each read once
        try:
            parsed[text] = dt.datetime.fromisoformat(text)
        except ValueError:
            parsed[text] = None
    received = [parsed[text] for text in plain.times]
    plain.sites, plain.received = sites, received
    return np.array(
        [site is not None and when is not None for site, when in zip(sites, received, strict=True)],
        bool,
    )


def _quick_sites(queries: list[str], texts: pa.Array | None = None) -> list[int | None]:
    """``quick_site`` of each query (an event's e_c and e_a aside), a batch at once: the
    pattern and ``rec=1`` as a pair by RE2, the last ``idsite`` read where there is one.
    ``texts``: the queries as Arrow, when they are already."""
    if texts is None:
        texts = pa.array(queries, pa.string())
    plain = pc.and_(
        pc.less_equal(pc.utf8_length(texts), MAX_VALUE_LENGTH),
        pc.match_substring_regex(texts, _QUICK_RE2),
    )
    # past the pattern every "&" separates pairs and a rec pair is exactly rec=1
    plain = pc.and_(plain, pc.match_substring_regex(texts, "(?:^|&)rec=1(?:&|$)"))
    counts = pc.count_substring_regex(texts, "(?:^|&)idsite=").to_numpy(zero_copy_only=False)
    first = pc.struct_field(pc.extract_regex(texts, r"(?:^|&)idsite=(?P<site>[0-9]+)"), 0)
    firsts = pc.cast(first, pa.int64()).to_pylist()  # [1-9][0-9]{0,8} past the pattern
    sure = plain.to_numpy(zero_copy_only=False)
    sites: list[int | None] = [None] * len(queries)
    for index in np.nonzero(sure & (counts == 1))[0].tolist():
        sites[index] = firsts[index]
    for index in np.nonzero(sure & (counts > 1))[0].tolist():
        # sent more than once: the last counts, as in parse_query
        sites[index] = int(last_value(queries[index], "idsite") or 0) or None
    return sites


def _plain_columns(
    plain: _Plain,
    hit_ids: list[str],
    settings: Settings,
    sites: dict[int, _SiteRules],
    salts: DaySalts,
) -> _Described:
    """The web.hits rows of a batch's vouched hits (what ``_row`` gives each)."""
    # _vouched made the queries Arrow: without them it vouches for no hit, and none is here
    texts = plain.texts
    assert texts is not None
    values, accepted, rare = _parameter_columns(texts)
    header_agents = pa.array([agent or None for agent in plain.agents], pa.string())
    agents = pc.coalesce(_text(values["ua"]), header_agents)
    # each distinct agent (None too) described once, and given to its hits by its code
    encoded = agents.dictionary_encode(null_encoding="encode")
    devices = [detect_device(agent) for agent in encoded.dictionary.to_pylist()]
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    is_bot = np.array([device.is_bot for device in devices], bool)[codes]
    asked = _equals(values["bots"], "1")
    kept = accepted & (~is_bot | asked)
    others = np.nonzero(~accepted)[0]
    chosen = np.nonzero(kept)[0]
    picked = chosen.tolist()
    mask = pa.array(kept)
    values = {name: column.filter(mask) for name, column in values.items()}
    received = [plain.received[index] for index in picked]
    languages = [plain.languages[index] or None for index in picked]
    columns: dict[str, Any] = {
        "hit_id": [hit_ids[index] for index in picked],
        "idsite": [plain.sites[index] for index in picked],
        "received_at": received,
        "hit_time": received,  # no cdt in a plain hit
        "user_agent": agents.filter(mask),
        "raw_query": texts.filter(mask),
        "transport": [plain.transports[index] for index in picked],
        "lang": pc.coalesce(_text(values["lang"]), pa.array(languages, pa.string())),
    }
    columns.update(_plain_parameters(values))
    columns.update(
        _rare_parameters(
            [plain.queries[index] for index in np.nonzero(kept & rare)[0]], rare[chosen]
        )
    )
    columns.update(_by_code(pa.array(codes[chosen]), devices, _DEVICE_COLUMNS))
    _plain_pages(columns, sites)
    _plain_network(columns, [plain.addresses[index] for index in picked], settings, salts)
    times = pa.array(received, _TYPES["hit_time"])  # both columns: converted once
    columns.update(received_at=times, hit_time=times)
    table = pa.Table.from_arrays(
        [_array(columns.get(f.name), f.type, len(picked)) for f in SCHEMA], schema=SCHEMA
    )
    return _Described(
        table,
        [plain.positions[index] for index in picked],
        int((accepted & ~kept).sum()),
        others.tolist(),
    )


def _parameter_columns(
    queries: pa.Array,
) -> tuple[dict[str, pa.Array], np.ndarray, np.ndarray]:
    """The decoded value of each name in ``_READ_NAMES`` (null where not sent), which hits
    the path takes (not: a name outside ``_PLAIN_NAMES`` and the custom dimensions, or a
    name sent twice, where parse_query keeps the last) and which send a rare name."""
    count = len(queries)
    parts = pc.split_pattern(queries, "&")
    parents = pc.list_parent_indices(parts).to_numpy()
    pairs = pc.list_flatten(parts)
    present = pc.not_equal(pairs, "")  # quick_site allows a trailing "&"
    parents = parents[present.to_numpy(zero_copy_only=False)]
    split = pc.split_pattern(pairs.filter(present), "=", max_splits=1)
    names = pc.list_element(split, 0).dictionary_encode()
    values = pc.list_element(split, 1)
    codes = names.indices.to_numpy()
    words = names.dictionary.to_pylist()
    dimension = np.array([DIMENSION.match(word) is not None for word in words], bool)
    known = np.array([word in _PLAIN_NAMES for word in words], bool) | dimension
    rare = np.zeros(count, bool)
    rare[parents[(dimension | [word in _RARE_NAMES for word in words])[codes]]] = True
    accepted = np.ones(count, bool)
    accepted[parents[~known[codes]]] = False
    keys, seen = np.unique(parents.astype(np.int64) * len(words) + codes, return_counts=True)
    accepted[keys[seen > 1] // len(words)] = False
    code_of = {word: code for code, word in enumerate(words)}
    columns = {}
    for name in _READ_NAMES:
        code = code_of.get(name)
        if code is None:
            columns[name] = pa.nulls(count, pa.string())
            continue
        selected = np.nonzero(codes == code)[0]
        where = np.full(count, -1, np.int64)
        where[parents[selected]] = selected  # one per accepted hit; others are dropped
        columns[name] = _decoded_column(values.take(pa.array(where, mask=where < 0)))
    accepted &= _events_complete(columns)
    return columns, accepted, rare


def _events_complete(columns: dict[str, pa.Array]) -> np.ndarray:
    """False for an event (e_c or e_a sent, not a ping) without both a category and an
    action, trimmed: parse_hit refuses it, so ``_row`` does."""
    category, action = columns["e_c"].to_pylist(), columns["e_a"].to_pylist()
    pings = _equals(columns["ping"], "1")
    return np.array(
        [
            ping or not (sort or verb) or bool(sort and verb and sort.strip() and verb.strip())
            for sort, verb, ping in zip(category, action, pings, strict=True)
        ],
        bool,
    )


def _decoded_column(column: pa.Array) -> pa.Array:
    """Values decoded as parse_query decodes them: each distinct one once."""
    if not pc.any(pc.match_substring_regex(column, r"[%+]")).as_py():
        return column
    encoded = column.dictionary_encode()
    words = [
        decoded_value(word) if "%" in word or "+" in word else word
        for word in encoded.dictionary.to_pylist()
    ]
    return pa.array(words, pa.string()).take(encoded.indices)


def _text(column: pa.Array) -> pa.Array:
    """``value or None``: an empty value is no value."""
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def _equals(column: pa.Array, text: str) -> np.ndarray:
    found: np.ndarray = pc.fill_null(pc.equal(column, text), False).to_numpy(zero_copy_only=False)
    return found


def _plain_parameters(values: dict[str, pa.Array]) -> dict[str, Any]:
    """The columns read straight from plain hits' parameters (``parse_hit``'s rules, in the
    forms quick_site allows: an integer is digits, a number digits and a point)."""
    text = {name: _text(values[name]) for name in values}
    kinds = pc.case_when(
        pa.StructArray.from_arrays(
            [
                pa.array(_equals(values["ping"], "1")),
                pc.or_(pc.is_valid(text["e_c"]), pc.is_valid(text["e_a"])),
                pc.is_valid(text["link"]),
                pc.is_valid(text["download"]),
                pc.is_valid(text["search"]),
                pa.array(_equals(values["idgoal"], "0")),  # an ecommerce cart (no ec_id)
                pc.is_valid(text["idgoal"]),
                pa.array(_equals(values["ca"], "1")),
            ],
            names=["ping", "event", "outlink", "download", "search", "cart", "goal", "other"],
        ),
        "ping", "event", "outlink", "download", "search", "cart", "goal", "other", "pageview",
    )  # fmt: skip
    return {
        "kind": kinds,
        "visitor_id": pc.utf8_lower(pc.coalesce(text["cid"], text["_id"])),
        "user_id": text["uid"],
        "url": text["url"],
        "action_name": text["action_name"],
        "urlref": text["urlref"],
        "link_url": pc.coalesce(text["link"], text["download"]),
        "search_keyword": text["search"],
        "search_category": text["search_cat"],
        "search_count": pc.cast(text["search_count"], pa.int32()),
        "event_category": _trimmed(text["e_c"]),
        "event_action": _trimmed(text["e_a"]),
        "event_name": _trimmed(text["e_n"]),
        "event_value": pc.cast(text["e_v"], pa.float64()),
        "idgoal": pc.cast(text["idgoal"], pa.int32()),
        "revenue": pc.cast(text["revenue"], pa.float64()),
        "new_visit": pa.array(_equals(values["new_visit"], "1")),
        "pv_id": text["pv_id"],
        "resolution": text["res"],
        "local_hour": pc.cast(text["h"], pa.int32()),
        "local_minute": pc.cast(text["m"], pa.int32()),
        "local_second": pc.cast(text["s"], pa.int32()),
        "ecommerce": pc.if_else(pc.equal(kinds, "cart"), _EMPTY_ORDER, None),
    }


def _trimmed(column: pa.Array) -> pa.Array:
    """``(value or "").strip() or None``, as parse_hit trims an event's parts (str.strip's
    idea of white space), once per distinct value."""
    encoded = column.dictionary_encode()
    words = [(word or "").strip() or None for word in encoded.dictionary.to_pylist()]
    return pa.array(words, pa.string()).take(encoded.indices)


def _rare_parameters(queries: list[str], rare: np.ndarray) -> dict[str, list[Any]]:
    """Custom dimensions, performance timings and the attribution cookie of the hits that
    send one (``rare``; ``queries`` are theirs), each parsed as parse_hit parses it."""
    described = [_rare(parse_query(query)) for query in queries]
    found = iter(described)
    nothing = (None, None, None)
    per_hit = [next(found) if flag else nothing for flag in rare]
    return {
        "dimensions": [hit[0] for hit in per_hit],
        "performance": [hit[1] for hit in per_hit],
        "attribution": [hit[2] for hit in per_hit],
    }


def _rare(params: dict[str, str]) -> tuple[str | None, str | None, dict[str, str] | None]:
    dimensions = custom_dimensions(params)
    timings = {name: int(params[name]) for name in PERFORMANCE if params.get(name)}
    remembered = {
        name: params[name].strip() for name in ATTRIBUTION_PARAMS if params.get(name, "").strip()
    }
    return (
        json.dumps(dimensions, sort_keys=True) if dimensions else None,
        json.dumps(timings, sort_keys=True) if timings else None,
        remembered or None,
    )


def _plain_pages(columns: dict[str, Any], sites: dict[int, _SiteRules]) -> None:
    """Site search, fragment, excluded parameters and referrer, as ``_row`` works them out:
    once per distinct page (site, URL, kind) and per distinct (site, URL, referrer), each
    given to its hits by its code."""
    urls, idsites = columns["url"], pa.array(columns["idsite"], pa.int32())
    rules_of = {site: sites.get(site) or _SiteRules(frozenset()) for site in set(columns["idsite"])}
    codes, pages = _distinct(idsites, urls, columns["kind"])
    found = [_page(url, kind, rules_of[site]) for site, url, kind in pages]
    indexes = pa.array(codes)

    def spread(values: list[Any], name: str) -> pa.Array:
        return pa.array(values, _TYPES[name]).take(indexes)

    columns["kind"] = spread([page.kind for page in found], "kind")
    columns["url"] = spread([page.url for page in found], "url")
    columns["url_fragment"] = spread([page.fragment for page in found], "url_fragment")
    if any(page.search is not None for page in found):
        searched = pa.array([page.search is not None for page in found]).take(indexes)
        for name, part in (("search_keyword", 0), ("search_category", 1), ("search_count", 2)):
            values = [None if page.search is None else page.search[part] for page in found]
            columns[name] = pc.if_else(searched, spread(values, name), columns[name])
    codes, visits = _distinct(idsites, urls, columns["urlref"])
    described = [_referrer(url, urlref, {}, rules_of[site].hosts) for site, url, urlref in visits]
    columns.update(_by_code(pa.array(codes), described, _REFERRER_COLUMNS))
    remembered = columns.pop("attribution")
    if all(cookie is None for cookie in remembered):
        return  # no hit credits an earlier campaign: the attributed columns stay null
    credited = [
        None if cookie is None else attribution(cookie, rules_of[site].hosts)
        for cookie, site in zip(remembered, columns["idsite"], strict=True)
    ]
    for name in ("type", "name", "keyword"):
        columns[f"attributed_{name}"] = [
            None if credit is None else getattr(credit, name) for credit in credited
        ]


def _distinct(*columns: pa.Array) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Each row's code of its combination of the columns' values (a null is a value too),
    and the distinct combinations, in code order: Arrow's ``dictionary_encode`` a column,
    the codes combined by numpy."""
    key = np.zeros(len(columns[0]), np.int64)
    parts = []
    for column in columns:
        encoded = column.dictionary_encode(null_encoding="encode")
        values = encoded.dictionary.to_pylist()
        indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        # renumbered after each column: a code stays below the number of rows
        key = np.unique(key * max(len(values), 1) + indices, return_inverse=True)[1]
        parts.append((values, indices))
    _, first, codes = np.unique(key, return_index=True, return_inverse=True)
    combinations = [
        tuple(values[indices[row]] for values, indices in parts) for row in first.tolist()
    ]
    return codes, combinations


@dataclass(frozen=True)
class _Page:
    kind: str
    url: str | None
    fragment: str | None
    search: tuple[str | None, str | None, int | None] | None  # keyword, category, count


def _page(url: str | None, kind: str, rules: _SiteRules) -> _Page:
    """A page's stored URL, fragment and site search (``_row``'s rules, for one page)."""
    search = None
    stored = url
    if kind == "pageview" and rules.sitesearch:
        found = _site_search(url, rules.keyword_parameters, rules.category_parameters)
        if found is not None:
            kind, stored = "search", found.url
            search = (found.keyword, found.category, found.count)
    fragment = None
    if not rules.keep_fragment and stored and "#" in stored:
        stored, fragment = stored.split("#", 1)
    return _Page(kind, _without_excluded(stored, rules.excluded), fragment, search)


def _plain_network(
    columns: dict[str, Any], addresses: list[str | None], settings: Settings, salts: DaySalts
) -> None:
    """Country, provider, anonymised address and IP key: once per distinct address (the
    key once per site, day and address, in ``DaySalts``)."""
    provider_lookup, anonymised = settings.web.provider_lookup, settings.web.ip_anonymise_bytes

    def describe(address: str | None) -> tuple[str | None, str | None, str | None]:
        network = network_of(address, provider_lookup)
        return network.country, network.provider, anonymise_ip(address, anonymised)

    encoded = pa.array(addresses, pa.string()).dictionary_encode(null_encoding="encode")
    described = [describe(address) for address in encoded.dictionary.to_pylist()]
    columns.update(_by_code(encoded.indices, described, _NETWORK_COLUMNS))
    columns["ip_key"] = salts.ip_keys(columns["idsite"], columns["hit_time"], addresses)


_DEVICE_COLUMNS = {
    "device_type": attrgetter("type"),
    "device_brand": attrgetter("brand"),
    "device_model": attrgetter("model"),
    "os_name": attrgetter("os_name"),
    "os_version": attrgetter("os_version"),
    "browser_name": attrgetter("browser_name"),
    "browser_version": attrgetter("browser_version"),
    "is_bot": attrgetter("is_bot"),
}
_REFERRER_COLUMNS = {
    "referrer_type": attrgetter("type"),
    "referrer_name": attrgetter("name"),
    "referrer_keyword": attrgetter("keyword"),
    "campaign_name": attrgetter("campaign_name"),
    "campaign_keyword": attrgetter("campaign_keyword"),
    "campaign_source": attrgetter("campaign_source"),
    "campaign_medium": attrgetter("campaign_medium"),
}
_NETWORK_COLUMNS = {
    "country": itemgetter(0),
    "provider": itemgetter(1),
    "ip": itemgetter(2),
}


def _by_code(
    indexes: pa.Array, described: list[Any], parts: Mapping[str, Callable[[Any], Any]]
) -> dict[str, pa.Array]:
    """Columns of descriptions given by code: each part's values for the descriptions,
    taken into place by ``indexes`` (Arrow's ``take``)."""
    return {
        name: pa.array([part(value) for value in described], _TYPES[name]).take(indexes)
        for name, part in parts.items()
    }


_TYPES = {f.name: f.type for f in SCHEMA}


def _array(values: Any, kind: pa.DataType, length: int) -> pa.Array:
    """A column as Arrow: as it is when already one; all nulls when the path never sets it
    (a plain hit has no event category, location, custom variables or order id)."""
    if values is None:
        return pa.nulls(length, kind)
    if isinstance(values, pa.Array):
        return values
    return pa.array(values, kind)


def _table(rows: list[tuple[Any, ...]]) -> pa.Table:
    """Rows in SCHEMA order as one Arrow table, built column by column."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    arrays = [pa.array(column, type=f.type) for column, f in zip(columns, SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _insert(
    warehouse: Warehouse,
    segment: str,
    batch: _Batch,
    end: int,
    skipped: int,
    sealed: bool,
    known: bool,
) -> None:
    """Insert the batch and move the segment's offset, in one transaction (the writer's:
    rows and offset commit or vanish together)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with warehouse.transaction():
        if batch.table.num_rows:
            # append() joins this transaction (DuckDB: same transaction; PostgreSQL: a
            # savepoint inside it), so the rows and the offset commit or vanish together.
            warehouse.append("web.hits", batch.table)
        rows = batch.table.num_rows
        hitlog.advance(warehouse, segment, end, rows, skipped, sealed, now, known=known)
        quarantine.add_hits(warehouse, segment, batch.quarantine, now)


@dataclass(frozen=True)
class _SiteRules:
    """What the loader needs of a site: its hosts (referrers from them are internal) and
    Matomo's URL settings (excluded parameters, site search read from page URLs)."""

    hosts: frozenset[str]
    excluded: frozenset[str] = frozenset()
    sitesearch: bool = True
    keyword_parameters: tuple[str, ...] = SEARCH_KEYWORD_PARAMETERS
    category_parameters: tuple[str, ...] = ()
    keep_fragment: bool = False


def _site_rules(warehouse: Warehouse) -> dict[int, _SiteRules]:
    return {
        site.idsite: _SiteRules(
            hosts=frozenset(hosts_of(site.urls)),
            excluded=frozenset(name.lower() for name in site.excluded_parameters),
            sitesearch=site.sitesearch,
            keyword_parameters=tuple(site.keyword_parameters),
            category_parameters=tuple(site.search_category_parameters),
            keep_fragment=site.keep_url_fragment,
        )
        for site in list_sites(warehouse)
    }


def _apply_retention(
    warehouse: Warehouse, directory: Path, settings: Settings, now: float | None
) -> int:
    """Delete sealed, fully loaded segments older than ``web.retention_days``."""
    cutoff = (now if now is not None else time.time()) - settings.web.retention_days * 86400
    done = hitlog.sealed_segments(warehouse)
    deleted = 0
    for path in segment_paths(directory)[:-1]:
        if path.name in done and path.stat().st_mtime <= cutoff:
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted


# One key for every tally process on a database: "tally" + "v" (visits) as an integer.
SESSIONIZE_LOCK_KEY = 0x74616C6C7976


def sessionize_alone(
    warehouse: Warehouse, settings: Settings | None = None, **options: Any
) -> SessionizeResult:
    """``sessionize`` as the only run on this warehouse, then cookieless salts expired.

    Runs share ``web.dirty_days``, so two at once (the server's loader and ``tally web
    sessionize``) would rebuild each other's days: ``exclusive`` makes the second run wait
    for the first (across processes where the warehouse has such locks; where it allows
    one writing process, that process's own lock is enough). With
    ``settings``, the run uses ``web.sessionize_engine`` (unless ``engine`` is given), and
    salts of days older than ``web.salt_days`` are deleted afterwards, so a cookieless
    visitor's hash cannot be linked across days by anyone holding the database.
    """
    if settings is not None:
        options.setdefault("engine", settings.web.sessionize_engine)
    with warehouse.session(), warehouse.exclusive(SESSIONIZE_LOCK_KEY):
        result = sessionize(warehouse, **options)
        if settings is not None:
            today = dt.datetime.now(dt.UTC).date()
            forget_salts(warehouse, today - dt.timedelta(days=settings.web.salt_days))
    return result
