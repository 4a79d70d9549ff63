"""The durable hit log: append-only segment files written with group commit.

A tracking request is acknowledged only after its record is on disk. Requests hand their
records to one writer thread and wait; the writer takes everything that queued up while
the previous ``fdatasync`` ran, writes it with one ``write`` and syncs once, so many
requests share one sync (group commit) and the batch interval is simply the sync time.
After a sync that several requests shared, the writer waits ``commit_delay`` (1 ms) before
taking the next batch: the clients just answered send their next hits within about that,
and would otherwise miss this batch and wait a whole sync more (with 64 busy connections,
batches of ~35 alternating become ~60; benchmarks/README.md). A lone client's batches hold
one request, so it never waits.

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
import logging
import os
import struct
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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


@dataclass(frozen=True)
class Record:
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
    while position < len(data):
        if max_records is not None and len(records) >= max_records:
            break
        size = _valid_at(view, position)
        if size is not None:
            start = position + HEADER.size
            records.append(Record(base + position, bytes(view[start : position + size])))
            position += size
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


@dataclass
class _Pending:
    payloads: list[bytes]
    future: asyncio.Future[list[str]]
    loop: asyncio.AbstractEventLoop


# what a request's future gets: the ids of its records, or the error that stopped them
_Outcome = list[str] | BaseException


class HitLog:
    """Appends records durably; ``await append([...])`` returns their ids once synced."""

    def __init__(
        self, directory: str | Path, segment_bytes: int, *, commit_delay: float = 0.001
    ) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.commit_delay = commit_delay
        self._pending: list[_Pending] = []
        self._condition = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._fd = -1
        self._segment = ""
        self._size = 0
        self._durable: tuple[str, int] = ("", 0)
        self.batches = 0  # synced writes so far
        self.records = 0  # records in them: records / batches is the group-commit factor

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._open_segment()
        self._thread = threading.Thread(target=self._run, name="hitlog-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write what is queued, then stop the writer and close the segment."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close_segment()

    def durable(self) -> tuple[str, int]:
        """(active segment file name, bytes of it known to be on disk)."""
        return self._durable

    # -- appending ---------------------------------------------------------------------

    async def append(self, payloads: list[bytes]) -> list[str]:
        """Make the records durable and return their ids (``<segment>:<offset>``)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[str]] = loop.create_future()
        with self._condition:
            if self._closing or self._thread is None:
                raise HitLogError("the hit log is not accepting records")
            self._pending.append(_Pending(payloads, future, loop))
            self._condition.notify()
        return await future

    def _run(self) -> None:
        shared = False  # whether the last sync served several requests
        while True:
            with self._condition:
                while not self._pending and not self._closing:
                    self._condition.wait()
                if not self._pending and self._closing:
                    return
                wait = shared and not self._closing
            if wait and self.commit_delay > 0:
                # the requests just answered come back with their next hits (a sleep, not
                # a wait on the condition: every append notifies it)
                time.sleep(self.commit_delay)
            with self._condition:
                batch, self._pending = self._pending, []
            shared = len(batch) > 1
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        results: list[tuple[_Pending, _Outcome]]
        try:
            if self._fd < 0 or self._size >= self.segment_bytes:
                self._rotate()
            results = self._write_batch(batch)
        except OSError as error:
            logger.error("hit log write failed in %s: %s", self._segment, error)
            failure = HitLogError(f"could not write the hit log: {error}")
            results = [(item, failure) for item in batch]
            # Cut what this batch wrote (its requests get an error, so it must not be
            # loaded) and never append to that segment again: the next batch opens a new
            # one, or fails the same way without stopping the writer thread.
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
            self._close_segment()
        self.batches += 1
        self.records += sum(len(item.payloads) for item in batch)
        # One wake-up per event loop per batch, not one per request.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Pending, _Outcome]]] = {}
        for item, outcome in results:
            by_loop.setdefault(item.loop, []).append((item, outcome))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle_all, settled)

    def _write_batch(self, batch: list[_Pending]) -> list[tuple[_Pending, _Outcome]]:
        """Frame, write and sync a batch; each request's outcome is its record ids."""
        buffer = bytearray()
        results: list[tuple[_Pending, _Outcome]] = []
        stem = self._segment.removesuffix(SUFFIX)
        for item in batch:
            ids = []
            for payload in item.payloads:
                ids.append(f"{stem}:{self._size + len(buffer)}")
                buffer += frame(payload)
            results.append((item, ids))
        self._write_all(bytes(buffer))
        os.fdatasync(self._fd)
        self._size += len(buffer)
        self._durable = (self._segment, self._size)
        return results

    def _write_all(self, data: bytes) -> None:
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


def _settle_all(settled: list[tuple[_Pending, _Outcome]]) -> None:
    for item, outcome in settled:
        if item.future.done():  # the request was cancelled (client went away)
            continue
        if isinstance(outcome, BaseException):
            item.future.set_exception(outcome)
        else:
            item.future.set_result(outcome)


def _sync_directory(directory: Path) -> None:
    """Make a new file's directory entry durable (a synced file nobody can find is lost)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
