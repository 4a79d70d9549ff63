"""The durable hit log: append-only segment files written with group commit.

A tracking request is acknowledged only after its record is on disk. A request frames
its records on the event loop into the batch being gathered (one shared buffer) and
waits; the whole batch is written with one ``write`` and synced once, so many requests
share one sync (group commit). Who syncs the batch:

- **The sync helper**, a small process of its own (``sync_helper``, on by default; ``tally
  serve`` runs with it). The first request of a loop iteration queues one ``call_soon``
  flush; it writes the batch on the loop and sends the helper one byte over a socket pair
  (with the segment's descriptor, after each rotation); the helper ``fdatasync``s that
  descriptor and answers one byte, which the loop reads as an ordinary readable event
  (``add_reader``) and answers the batch's requests. Meanwhile the loop goes on reading,
  checking and framing requests: the sync overlaps the next batch's work instead of
  blocking the loop (the loop used 0.86 of a core against a bare 204's 0.99 when it synced
  itself, benchmarks/README.md, Tracking), and a process has its own GIL, so the answer
  does not wait for the loop to hand the GIL over as a writer thread's does. One batch is
  with the helper at a time; what gathers meanwhile is written and sent when its answer
  lands. The helper times each ``fdatasync`` itself and sends the time with its answer,
  so a loop that waited for a core does not look like a slow disk; while that moving
  average passes ``inline_limit`` (a slow or busy disk) the writer thread syncs, with its
  commit delay, and the helper is tried again after the period, as the loop's own syncs
  are (below): one batch at a time, a slow sync split 64 clients into two batches taking
  turns. A helper that dies loses nothing: the loop syncs the batch it held and every
  later one itself (below). Its CPU is the server's: benchmarks/tracking_bench.py counts
  it.
- **On the event loop**, without the helper, while syncs are fast: their moving average
  over about the last 8 syncs at most ``inline_limit`` (1 ms; an append to a local ext4
  file syncs in about 0.1 ms at rest, and an odd slow sync does not move syncing off the
  loop). The first
  request of a loop iteration queues one ``call_soon`` flush; it runs after the
  callbacks of every event that iteration read, so it takes all their requests, writes
  and syncs (``fdatasync``) them and answers them in the same callback. No thread, no
  wake-up through the loop's self-pipe, no GIL hand-off (with a writer thread, each
  batch waited for the thread to get the GIL back from the busy loop, then for the loop
  to wake: CPU and latency per batch, benchmarks/README.md, Tracking). The loop is
  blocked during the sync, but its requests could not be answered before it anyway,
  and what arrives meanwhile is read as the next batch.
- **By a writer thread**, without the helper, once that average passes ``inline_limit``: a
  slow disk (or one that hangs) must not stall every request the loop serves, the
  dashboards and the API included. The thread takes the whole buffer that gathered while
  its previous ``fdatasync`` ran and wakes each event loop once per batch. After
  ``thread_period`` (1 s) the loop tries again, on trial (its average starts at the limit,
  so a slow sync ends the trial); a trial that ends within the period doubles it (up to 64
  times), and a loop that synced fast for a whole period starts again from 1 s. So a
  persistently slow disk stalls the loop for one sync a minute at most. After a sync that
  several requests shared, the writer waits ``commit_delay`` (1 ms) before taking the next
  batch: the clients just answered send their next hits within about that, and would
  otherwise miss this batch and wait a whole sync more (with 64 busy connections, batches
  of ~35 alternating become ~60; benchmarks/README.md). A lone client's batches hold one
  request, so it never waits.

Whoever syncs, a request is answered only after the ``fdatasync`` of its batch returned, and
batches are written one at a time in the order they were taken, so records keep the
order their requests were framed in.

Each record is framed as ``MAGIC (2 bytes) | length (u32) | crc32 (u32) | payload`` so a
reader can tell a complete record from a torn one left by a crash, and skip damaged bytes
by searching for the next frame that checks out (the tracking endpoint's payloads are
JSON, where the byte 0x1E of the magic never appears unescaped, so a search cannot stop
inside a record). A record's id is ``<segment>:<offset>``.

Segments are ``<sequence>-<random>.hitlog``; the writer starts a new one when it starts
and when the current one passes ``segment_bytes``. A segment is *sealed* once a later one
exists: nothing will ever be appended to it again, so a torn tail there is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

logger = logging.getLogger(__name__)

MAGIC = b"\xa7\x1e"
HEADER = struct.Struct("<2sII")
SUFFIX = ".hitlog"


def frame(payload: bytes) -> bytes:
    """One record as it is stored."""
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


class RecordLog(Protocol):
    """Where the tracking endpoint appends records: ``HitLog`` (local disk) or
    ``tally.web.hitstream.HitStream`` (JetStream). Returns the records' ids once durable;
    raises ``HitLogError`` when they cannot be stored."""

    async def append(self, payloads: list[bytes]) -> list[str]: ...


class Record(NamedTuple):
    # a tuple: the loader makes one per hit, and a frozen dataclass's __init__ costs about
    # as much as checking the record's CRC (benchmarks/README.md, issue 27's third session)
    offset: int
    payload: bytes


@dataclass(frozen=True)
class Scan:
    """Records found from a start offset, and where reading may resume."""

    records: list[Record]
    end: int  # every byte before this is either a returned record or skipped
    skipped_bytes: int


def _valid_at(data: bytes | memoryview, position: int) -> int | None:
    """Length of the whole frame at ``position`` if it is complete and intact."""
    if position + HEADER.size > len(data):
        return None
    magic, length, checksum = HEADER.unpack_from(data, position)
    end: int = position + HEADER.size + length
    if magic != MAGIC or end > len(data):
        return None
    if zlib.crc32(data[position + HEADER.size : end]) != checksum:
        return None
    return end - position


def scan(data: bytes, base: int, *, sealed: bool, max_records: int | None = None) -> Scan:
    """Parse frames from ``data`` (which starts at file offset ``base``).

    In a sealed segment damaged or torn bytes are skipped (counted); in the active one the
    scan stops before them, since the writer may still be completing that record.
    """
    records: list[Record] = []
    position = 0
    skipped = 0
    view = memoryview(data)
    total = len(data)
    wanted = total if max_records is None else max_records  # no more records than bytes
    while position < total and len(records) < wanted:
        # _valid_at written out for an intact frame (the common case, once per hit)
        if position + HEADER.size <= total:
            magic, length, checksum = HEADER.unpack_from(view, position)
            start = position + HEADER.size
            end = start + length
            if magic == MAGIC and end <= total:
                payload = data[start:end]
                if zlib.crc32(payload) == checksum:
                    records.append(Record(base + position, payload))
                    position = end
                    continue
        if not sealed:
            break
        following = _next_frame(view, position + 1)
        skipped += following - position
        position = following
    return Scan(records, base + position, skipped)


def _next_frame(data: memoryview, position: int) -> int:
    raw = data.obj if isinstance(data.obj, bytes) else bytes(data)
    while True:
        found = raw.find(MAGIC, position)
        if found < 0:
            return len(data)
        if _valid_at(data, found) is not None:
            return found
        position = found + 1


def segment_paths(directory: Path) -> list[Path]:
    """Segments in write order."""
    return sorted(directory.glob(f"*{SUFFIX}"))


def read_segment(
    path: Path,
    start: int,
    *,
    sealed: bool,
    limit: int | None = None,
    max_records: int | None = None,
) -> Scan:
    """Records of one segment from byte ``start`` up to ``limit`` (default: end of file)."""
    with open(path, "rb") as file:
        file.seek(start)
        data = file.read(-1 if limit is None else max(0, limit - start))
    return scan(data, start, sealed=sealed, max_records=max_records)


class HitLogError(OSError):
    """The log could not make a batch durable; its requests must not be acknowledged."""


# The sync helper's program (run with ``python -I -S -c``; its one argument is its end of
# the socket pair). Each byte it reads asks for one fdatasync of the descriptor sent with
# the first byte (and again whenever the segment changes); it answers five bytes per sync:
# 0 or the errno, and how long the fdatasync took in microseconds (u32 LE; the disk's time,
# whatever the event loop waited for a core). It ignores SIGINT and SIGTERM (a Ctrl-C or a
# stop reaches every process of the group: the server still has batches to sync) and ends
# when the server's end closes.
_HELPER = """
import os, signal, socket, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
channel = socket.socket(fileno=int(sys.argv[1]))
fd = -1
while True:
    try:
        data, fds, _, _ = socket.recv_fds(channel, 1, 1)
    except OSError:
        break
    if not data:
        break
    if fds:
        if fd >= 0:
            os.close(fd)
        fd = fds[0]
    started = time.perf_counter()
    try:
        os.fdatasync(fd)
        status = 0
    except OSError as error:
        status = min(255, error.errno or 255)
    took = min(round((time.perf_counter() - started) * 1e6), 2**32 - 1)
    channel.sendall(bytes([status]) + took.to_bytes(4, "little"))
"""
_ANSWER = 5  # bytes of the helper's answer
# how often an idle writer looks for a flight stranded on a closed or stopped loop (HitLog._sleep)
_RESCUE_PERIOD = 0.1


# A batch's outcome as each waiting request gets it: (segment stem, the batch's first
# byte in it), or the error that stopped the batch.
_Outcome = tuple[str, int] | BaseException
# One waiting request: called on its event loop with its batch's outcome.
Settle = Callable[[_Outcome], None]
_Waiter = Settle


@dataclass
class _Flight:
    """A batch written on an event loop, waiting for the sync helper's answer; it holds
    the log's I/O lock until it lands."""

    loop: asyncio.AbstractEventLoop
    waiters: dict[asyncio.AbstractEventLoop, list[_Waiter]]
    framed: int
    length: int  # bytes
    start: tuple[str, int]  # (segment stem, the batch's first byte)
    channel: socket.socket


class HitLog:
    """Appends records durably; ``await append([...])`` returns their ids once synced."""

    def __init__(
        self,
        directory: str | Path,
        segment_bytes: int,
        *,
        commit_delay: float = 0.001,
        inline_limit: float = 0.001,
        thread_period: float = 1.0,
        sync_helper: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.commit_delay = commit_delay
        # Where batches are synced (module docstring): on the event loop while syncs take
        # at most inline_limit seconds on average (0: never), else by the writer thread for
        # thread_period seconds (or more), after which the loop tries again.
        self.inline_limit = inline_limit
        self.thread_period = thread_period
        # The sync helper (module docstring) syncs the loops' batches while they go on;
        # without it (False, or it could not start) the loops sync as described above.
        self.sync_helper = sync_helper
        self._helper: subprocess.Popen[bytes] | None = None
        self._channel: socket.socket | None = None  # to the helper: a byte asks one sync
        self._helper_segment = ""  # the segment whose descriptor the helper holds
        self._flight: _Flight | None = None  # the batch the helper is syncing
        self._inline = inline_limit > 0 or sync_helper
        self._sync_time = 0.0  # moving average of the loops' syncs, seconds (weight 1/8)
        # monotonic time the loops began syncing again after the writer did (None: never)
        self._inline_since: float | None = None
        self._period = thread_period  # how long the writer syncs after a slow sync
        self._inline_again = 0.0  # monotonic time from which the loop may sync again
        self._flushing: set[asyncio.AbstractEventLoop] = set()  # loops with a flush queued
        # The batch being gathered: framed records and who waits for them, by event loop.
        # The event loops append under _mutex; whoever syncs takes both whole.
        self._buffer = bytearray()
        self._waiters: dict[asyncio.AbstractEventLoop, list[_Waiter]] = {}
        self._count = 0  # requests in the batch being gathered
        self._framed = 0  # records in it
        self._mutex = threading.Lock()
        self._io = threading.Lock()  # one batch written and synced at a time
        # The writer sleeps on _wake (held while it is not signalled); whoever finds
        # _asleep set clears it and releases _wake once, so each sleep is woken once.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._asleep = False
        self._handed = False  # a flush on a loop found the file busy: the writer takes it
        self._closing = False
        self._thread: threading.Thread | None = None
        self._fd = -1
        self._segment = ""
        self._size = 0
        self._durable: tuple[str, int] = ("", 0)
        self.batches = 0  # synced writes so far
        self.records = 0  # records in them: records / batches is the group-commit factor
        self.inline_batches = 0  # of the batches, those synced on an event loop
        self.helper_batches = 0  # of the batches, those the sync helper synced
        self.handoffs = 0  # times syncing moved from the loops to the writer thread

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._open_segment()
        if self.sync_helper:
            self._start_helper()
        self._thread = threading.Thread(target=self._run, name="hitlog-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write what is queued, then stop the writer and close the segment."""
        with self._mutex:
            self._closing = True
            self._signal()
        self._land_stranded()  # e.g. close() called on the flight's own loop
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._io:
            self._close_segment()
            self._stop_helper()

    def durable(self) -> tuple[str, int]:
        """(active segment file name, bytes of it known to be on disk)."""
        return self._durable

    # -- appending ---------------------------------------------------------------------

    async def append(self, payloads: list[bytes]) -> list[str]:
        """Make the records durable and return their ids (``<segment>:<offset>``).

        The records are framed here, on the event loop, into the batch synced next; the
        request then waits for that batch's sync (one wake-up per batch).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Outcome] = loop.create_future()
        starts = self.submit(payloads, loop, functools.partial(_resolve, future))
        outcome = await future
        if isinstance(outcome, BaseException):
            raise outcome
        stem, base = outcome
        return [f"{stem}:{base + start}" for start in starts]

    def submit(
        self, payloads: list[bytes], loop: asyncio.AbstractEventLoop, settle: Settle
    ) -> list[int]:
        """Frame the records into the batch synced next; once that batch is synced (or
        has failed), ``settle`` is called on ``loop`` with (segment stem, the batch's
        first byte) or the error. Returns each record's offset in the batch.

        Called on ``loop`` without awaiting: the tracking protocol
        (``tally.server.tracking_protocol``) answers a page view from ``settle``, with no
        task or future per request. Raises ``HitLogError`` once the log is closed.
        """
        starts = []
        with self._mutex:
            if self._closing or self._thread is None:
                raise HitLogError("the hit log is not accepting records")
            buffer = self._buffer
            for payload in payloads:
                starts.append(len(buffer))
                buffer += frame(payload)
            waiting = self._waiters.get(loop)
            if waiting is None:
                waiting = self._waiters[loop] = []
            waiting.append(settle)
            self._count += 1
            self._framed += len(payloads)
            if self._inline:
                # one flush per loop iteration: it runs after the callbacks of the events
                # this iteration read, so it takes every request they held
                flight = self._flight
                if loop not in self._flushing and (flight is None or flight.loop is not loop):
                    self._flushing.add(loop)
                    loop.call_soon(self._flush, loop)
            elif self._asleep:
                self._signal()
        return starts

    def _signal(self) -> None:
        """Wake the writer if it sleeps (called with _mutex held)."""
        if self._asleep:
            self._asleep = False
            self._wake.release()

    # -- syncing on the event loop -----------------------------------------------------

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write and sync the batch on ``loop`` and answer its requests in the same
        callback: no thread, no wake-up through the loop's self-pipe, no GIL hand-off."""
        with self._mutex:
            self._flushing.discard(loop)
            flight = self._flight
            if flight is not None and flight.loop is loop:
                return  # the helper syncs this loop's batch: its answer flushes again
            # the writer syncs for now, or is writing a batch (it takes this one next)
            if not self._inline or not self._io.acquire(blocking=False):
                self._handed = True
                self._signal()
                return
        if self._channel is not None:
            self._send(loop)
            return
        try:
            with self._mutex:
                data, waiters, framed = self._take()
            if not waiters:
                return
            started = time.perf_counter()
            outcome = self._commit(data, framed)
            took = time.perf_counter() - started
        finally:
            self._io.release()
        self.inline_batches += 1
        self._sync_time += (took - self._sync_time) / 8
        if self._sync_time > self.inline_limit:
            self._to_thread(took)
        self._answer(loop, waiters, outcome)

    def _to_thread(self, took: float) -> None:
        """Syncs on the loop got slow: the writer thread syncs for a while (module docstring)."""
        self.handoffs += 1
        now = time.monotonic()
        since = self._inline_since
        if since is not None and now - since <= self._period:
            self._period = min(2 * self._period, 64 * self.thread_period)  # tried too soon
        else:  # the first slow sync, or the loop synced fast for a whole period
            self._period = self.thread_period
        self._inline_again = now + self._period
        self._inline = False
        logger.info(
            "hit log: syncs take %.1f ms on average (the last %.1f ms); the writer thread "
            "syncs for %g s",
            self._sync_time * 1e3,
            took * 1e3,
            self._period,
        )

    # -- syncing by the sync helper ----------------------------------------------------

    def _start_helper(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self._helper = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _HELPER, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        except OSError as error:
            logger.warning("hit log: no sync helper (%s); the event loop syncs", error)
            ours.close()
            self._inline = self.inline_limit > 0
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        self._channel = ours

    def _stop_helper(self) -> None:
        """Close the helper's channel (it then exits); syncing goes back to the loops and
        the writer thread (called with _io held, so with no flight)."""
        channel, helper = self._channel, self._helper
        self._channel, self._helper, self._helper_segment = None, None, ""
        with self._mutex:
            self._inline = self.inline_limit > 0
        if channel is not None:
            channel.close()
        if helper is not None:
            try:
                helper.wait(5)
            except subprocess.TimeoutExpired:
                helper.kill()
                helper.wait()

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write the batch and ask the helper to sync it; its answer lands on ``loop``
        (called with _io held: the flight keeps it until it lands)."""
        with self._mutex:
            data, waiters, framed = self._take()
        if not waiters:
            self._io.release()
            return
        try:
            start = self._write(data)
        except OSError as error:
            outcome: _Outcome = self._failed(error)
            self.batches += 1
            self.records += framed
            self._io.release()
            self._answer(loop, waiters, outcome)
            return
        channel = self._channel
        assert channel is not None
        flight = _Flight(loop, waiters, framed, len(data), start, channel)
        try:
            # the segment's descriptor goes with the first request after each rotation
            descriptors = [self._fd] if self._helper_segment != self._segment else []
            socket.send_fds(channel, [b"s"], descriptors)
            self._helper_segment = self._segment
        except OSError:  # the helper is gone: _land syncs here
            self._answer(loop, waiters, self._land(flight, b""))
            return
        with self._mutex:
            self._flight = flight
        loop.add_reader(channel.fileno(), self._answered, loop)

    def _answered(self, loop: asyncio.AbstractEventLoop) -> None:
        """The helper's channel is readable on ``loop``: land the flight, answer its
        requests, and queue a flush for what gathered meanwhile."""
        with self._mutex:
            flight = self._flight
            if flight is not None and flight.loop is loop:
                self._flight = None  # claimed: nobody else reads its answer
            else:
                flight = None
        if flight is None:  # landed by another thread, or another loop's flight: not ours
            if self._channel is not None:
                loop.remove_reader(self._channel.fileno())
            return
        try:
            answer = flight.channel.recv(_ANSWER)
        except BlockingIOError:  # not readable after all
            with self._mutex:
                self._flight = flight
            return
        except OSError:
            answer = b""
        loop.remove_reader(flight.channel.fileno())
        outcome = self._land(flight, _whole(flight.channel, answer))
        with self._mutex:
            if self._count and loop not in self._flushing:
                if self._inline:
                    self._flushing.add(loop)
                    loop.call_soon(self._flush, loop)
                else:  # handed to the writer thread just now (_land)
                    self._handed = True
                    self._signal()
        self._answer(loop, flight.waiters, outcome)

    def _land(self, flight: _Flight, answer: bytes) -> _Outcome:
        """The outcome of a flight whose helper answered ``answer`` (empty: the helper is
        gone, so the batch is synced here); releases _io. A helper whose syncs got slow
        (their moving average over ``inline_limit``, timed by the helper) hands syncing to
        the writer thread for a while, as the loop's own syncs do (module docstring)."""
        outcome: _Outcome
        try:
            if len(answer) == _ANSWER and answer[0] == 0:
                self._synced(flight.length)
                outcome = flight.start
                self.helper_batches += 1
                took = int.from_bytes(answer[1:], "little") / 1e6
                self._sync_time += (took - self._sync_time) / 8
                if self._sync_time > self.inline_limit > 0:
                    self._to_thread(took)
            elif answer:
                outcome = self._failed(OSError(answer[0], os.strerror(answer[0])))
            else:
                logger.error("hit log: the sync helper stopped; the event loop syncs")
                self._stop_helper()
                try:
                    os.fdatasync(self._fd)
                    self._synced(flight.length)
                    outcome = flight.start
                except OSError as error:
                    outcome = self._failed(error)
            self.batches += 1
            self.records += flight.framed
        finally:
            self._io.release()
        return outcome

    def _land_stranded(self) -> None:
        """Land a flight whose loop cannot: closed, stopped, or this thread's (blocked in
        ``close``). Waits for the helper's answer."""
        with self._mutex:
            flight: _Flight | None = self._flight
            if flight is None:
                return
            loop = flight.loop
            running = loop.is_running() and loop is not _running_loop()
            if running and not loop.is_closed():
                return
            self._flight = None
        select.select([flight.channel], [], [])
        try:
            answer = _whole(flight.channel, flight.channel.recv(_ANSWER))
        except OSError:
            answer = b""
        if not loop.is_closed():
            loop.remove_reader(flight.channel.fileno())
        self._deliver(flight.waiters, self._land(flight, answer))

    def _answer(
        self,
        loop: asyncio.AbstractEventLoop,
        waiters: dict[asyncio.AbstractEventLoop, list[_Waiter]],
        outcome: _Outcome,
    ) -> None:
        """Answer a batch from ``loop``: its own requests at once, other loops' woken."""
        here = waiters.pop(loop, None)
        self._deliver(waiters, outcome)
        if here is not None:
            _settle_all(here, outcome)

    # -- syncing in the writer thread --------------------------------------------------

    def _run(self) -> None:
        shared = False  # whether the last sync served several requests
        while True:
            with self._mutex:
                # while the loops sync, the writer takes only what a loop handed it
                idle = not self._count or (self._inline and not self._handed and not self._closing)
                if idle and self._closing:
                    return
                self._asleep = idle
            if idle:
                self._sleep()
                continue
            if shared and self.commit_delay > 0 and not self._closing:
                # the requests just answered come back with their next hits (a sleep:
                # waking on every append would defeat the point)
                time.sleep(self.commit_delay)
            while not self._io.acquire(timeout=0.1):
                self._land_stranded()  # a flight whose loop closed
            try:
                with self._mutex:
                    data, waiters, framed = self._take()
                if not waiters:  # an event loop synced it meanwhile
                    continue  # (the finally releases _io)
                shared = sum(map(len, waiters.values())) > 1
                outcome = self._commit(data, framed)
            finally:
                self._io.release()
            if not self._inline and self.inline_limit > 0:
                now = time.monotonic()
                if now >= self._inline_again:  # the loops try again (before they are woken)
                    with self._mutex:
                        self._inline_since = now
                        self._sync_time = self.inline_limit  # on trial: one slow sync ends it
                        self._inline = True
                        # requests framed during this sync queued no flush on their loop
                        # (syncing was the writer's): the writer takes them next
                        self._handed = self._handed or self._count > 0
            self._deliver(waiters, outcome)

    def _sleep(self) -> None:
        """Sleep until an append or close signals. With the sync helper in use, also wake
        every ``_RESCUE_PERIOD`` to land a flight whose loop closed or stopped with other
        loops' requests in it. Such a flight is left with nobody to land it: loop A's
        answer queues a flush for what gathered meanwhile, only loop B's requests; A's
        flush sends them as A's flight, and A's loop ends before it reads the answer; B's
        own flush found the file busy and signalled, but the writer, seeing nothing
        gathered, slept (tests/web/test_hitlog.py, "stranded on a closed loop")."""
        if self._channel is None:
            self._wake.acquire()
            return
        if self._wake.acquire(timeout=_RESCUE_PERIOD):
            return
        with self._mutex:
            if self._asleep:  # nobody signalled: nobody may release _wake now
                self._asleep = False
            else:  # a signal came just after the timeout: take its release
                self._wake.acquire()
        self._land_stranded()

    def _take(self) -> tuple[bytearray, dict[asyncio.AbstractEventLoop, list[_Waiter]], int]:
        """The batch gathered so far, and a new empty one (called with _mutex held)."""
        data, self._buffer = self._buffer, bytearray()
        waiters, self._waiters = self._waiters, {}
        framed, self._framed = self._framed, 0
        self._count = 0
        self._handed = False
        return data, waiters, framed

    def _commit(self, data: bytearray, framed: int) -> _Outcome:
        """Write and sync one batch of ``framed`` records (called with _io held)."""
        outcome: _Outcome
        try:
            outcome = self._write(data)
            os.fdatasync(self._fd)
            self._synced(len(data))
        except OSError as error:
            outcome = self._failed(error)
        self.batches += 1
        self.records += framed
        return outcome

    def _write(self, data: bytearray) -> tuple[str, int]:
        """Append a batch (not synced yet); returns (segment stem, its first byte)."""
        if self._fd < 0 or self._size >= self.segment_bytes:
            self._rotate()
        start = (self._segment.removesuffix(SUFFIX), self._size)
        self._write_all(data)
        return start

    def _synced(self, length: int) -> None:
        """The batch of ``length`` bytes written last is on disk."""
        self._size += length
        self._durable = (self._segment, self._size)

    def _failed(self, error: OSError) -> HitLogError:
        """A batch could not be written or synced: its requests get the error returned."""
        logger.error("hit log write failed in %s: %s", self._segment, error)
        # Cut what this batch wrote (its requests get an error, so it must not be loaded)
        # and never append to that segment again: the next batch opens a new one, or
        # fails the same way without stopping the writer thread.
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
        self._close_segment()
        return HitLogError(f"could not write the hit log: {error}")

    @staticmethod
    def _deliver(
        waiters: dict[asyncio.AbstractEventLoop, list[_Waiter]], outcome: _Outcome
    ) -> None:
        # One wake-up per event loop per batch, not one per request.
        for loop, settled in waiters.items():
            # a loop closed meanwhile has no request left to answer; the writer goes on
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, settled, outcome)

    def _write_all(self, data: bytearray) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    # -- segments ----------------------------------------------------------------------

    def _open_segment(self) -> None:
        existing = segment_paths(self.directory)
        sequence = int(existing[-1].name.split("-", 1)[0]) + 1 if existing else 1
        name = f"{sequence:010d}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
        self._fd = os.open(self.directory / name, flags, 0o640)
        _sync_directory(self.directory)
        self._segment = name
        self._size = 0
        self._durable = (name, 0)

    def _rotate(self) -> None:
        self._close_segment()
        self._open_segment()

    def _close_segment(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


def _whole(channel: socket.socket, answer: bytes) -> bytes:
    """The helper's whole answer from its first bytes (it sends all five at once; should
    they come apart, the rest follows at once). Empty: the helper is gone."""
    while answer and len(answer) < _ANSWER:
        select.select([channel], [], [], 1)
        try:
            more = channel.recv(_ANSWER - len(answer))
        except BlockingIOError:
            continue
        except OSError:
            return b""
        if not more:
            return b""
        answer += more
    return answer


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _settle_all(settled: list[_Waiter], outcome: _Outcome) -> None:
    for settle in settled:
        try:
            settle(outcome)
        except Exception:  # one request's answer failing must not leave the others waiting
            logger.exception("hit log: answering a request failed")


def _resolve(future: asyncio.Future[_Outcome], outcome: _Outcome) -> None:
    if not future.done():  # done: the request was cancelled (client went away)
        future.set_result(outcome)


def _sync_directory(directory: Path) -> None:
    """Make a new file's directory entry durable (a synced file nobody can find is lost)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
