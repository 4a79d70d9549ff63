"""Load hits from the JetStream hit stream into ``web.hits`` exactly once.

A loader reads the stream through one durable pull consumer (``tally-loader``), which
every loader shares: JetStream hands each message to one of them at a time, and hands it
again, maybe to another, when it was not acknowledged within ``web.load_ack_wait_seconds``.

Per batch: parse and enrich the records (as ``tally.web.loader`` does for the local log);
then, holding the warehouse's exclusive lock for stream loads, in ONE transaction: find
which of the batch's stream sequences are already stored (``web.hits.hit_id`` is
``<stream>:<sequence>``, a quarantined record is ``file = <stream>``, ``line =
<sequence>``), insert only the others, commit; then acknowledge the messages. A loader
killed before its commit loaded nothing and the batch is delivered again; killed after it,
the redelivered messages are found stored and skipped. Two loaders at once take turns at
the commit, so neither can insert what the other just did.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from tally.config import Settings
from tally.jetstream import Link, retrying, stream_sequence
from tally.warehouse import Warehouse
from tally.warehouse.meta import quarantine as meta_quarantine
from tally.web.hitstream import hit_id, stream_config, subject
from tally.web.loader import _row, _site_rules, _table, load_hits, sessionize_alone
from tally.web.params import Rejected
from tally.web.sessions import DaySalts

logger = logging.getLogger(__name__)

CONSUMER = "tally-loader"
# "tally" + "J" (JetStream) as an integer: one lock for every stream loader on a database
LOAD_LOCK_KEY = 0x74616C6C794A


@dataclass
class StreamLoadResult:
    fetched: int = 0  # messages received (redeliveries included)
    loaded: int = 0  # rows inserted into web.hits
    already_loaded: int = 0  # redelivered messages whose rows were stored before
    bots_dropped: int = 0
    quarantined: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def add(self, other: StreamLoadResult) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass(frozen=True)
class Message:
    sequence: int
    payload: bytes


class StreamLoader:
    """A loader on the hit stream (``web.hit_log_url``); ``load()`` drains what is there."""

    def __init__(
        self, warehouse: Warehouse, settings: Settings, *, ack_wait: float | None = None
    ) -> None:
        self.warehouse = warehouse
        self.ack_wait = ack_wait or settings.web.load_ack_wait_seconds
        self.settings = settings
        self.stream = settings.web.hit_stream
        self.link = Link(settings.web.hit_log_url, name="tally-loader")
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._lock = threading.Lock()

    def start(self, seconds: float = 120.0) -> StreamLoader:
        """Connect and bind to the durable consumer (creating stream and consumer when
        missing), retrying for ``seconds``: a cluster that is starting or electing takes a
        while to answer."""
        self.link.start()
        try:
            self.link.call(
                retrying(self._subscribe, seconds=seconds, what="binding the hit loader"),
                timeout=seconds + 30,
            )
        except BaseException:
            self.link.close()
            raise
        return self

    async def _subscribe(self) -> None:
        await self.link.ensure_stream(stream_config(self.settings.web))
        config = ConsumerConfig(
            durable_name=CONSUMER,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait,
            max_ack_pending=4 * self.settings.web.load_batch_records,
        )
        self._subscription = await self.link.context().pull_subscribe(
            subject(self.settings.web), durable=CONSUMER, stream=self.stream, config=config
        )

    def close(self) -> None:
        self.link.close()

    def load(self, *, wait_seconds: float = 0.5) -> StreamLoadResult:
        """Load batches until the stream has nothing more for this loader."""
        total = StreamLoadResult()
        size = self.settings.web.load_batch_records
        with self._lock:
            while True:
                messages = self.fetch(size, wait_seconds)
                if not messages:
                    return total
                total.add(self.store(messages))
                if len(messages) < size:
                    return total

    def fetch(self, size: int, wait_seconds: float) -> list[Msg]:
        return self.link.call(self._fetch(size, wait_seconds), timeout=wait_seconds + 30)

    async def _fetch(self, size: int, wait_seconds: float) -> list[Msg]:
        assert self._subscription is not None, "start() the loader first"
        try:
            # bounded here too: a fetch cut short by a reconnect can wait past its own expiry
            fetching = self._subscription.fetch(size, timeout=wait_seconds)
            return await asyncio.wait_for(fetching, wait_seconds + 5)
        except (nats.errors.TimeoutError, TimeoutError):
            return []

    def store(self, messages: list[Msg]) -> StreamLoadResult:
        """Commit the messages' rows (those not stored yet), then acknowledge them all."""
        found = [Message(stream_sequence(m), m.data) for m in messages]
        result = commit(self.warehouse, self.settings, self.stream, found)
        self.link.call(_acknowledge(messages, self.link.connection), timeout=30)
        return result


async def _acknowledge(messages: list[Msg], connection: NATS | None) -> None:
    for message in messages:
        await message.ack()
    # a lost acknowledgement only means a redelivery, which the next commit skips
    if connection is not None:
        await connection.flush(timeout=10)


def commit(
    warehouse: Warehouse, settings: Settings, stream: str, messages: list[Message]
) -> StreamLoadResult:
    """Insert the rows of ``messages`` that are not stored yet, in one transaction."""
    result = StreamLoadResult(fetched=len(messages))
    if not messages:
        return result
    # one fetch can hold a message twice: redelivered (its ack wait ran out) while the
    # first copy still waited in this loader's queue
    messages = list({message.sequence: message for message in messages}.values())
    rows, quarantine, result.bots_dropped = _prepare(warehouse, settings, stream, messages)
    low, high = min(m.sequence for m in messages), max(m.sequence for m in messages)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with warehouse.exclusive(LOAD_LOCK_KEY), warehouse.transaction():
        stored = {
            row[0]
            for row in warehouse.rows(
                "SELECT hit_id FROM web.hits WHERE hit_id BETWEEN ? AND ?",
                [hit_id(stream, low), hit_id(stream, high)],
            )
        }
        stored_bad = meta_quarantine.hit_lines(warehouse, stream, low, high)
        new_rows = [row for row in rows if row[0] not in stored]
        new_bad = [item for item in quarantine if item[0] not in stored_bad]
        if new_rows:
            warehouse.append("web.hits", _table(new_rows))
        meta_quarantine.add_hits(warehouse, stream, new_bad, now)
    result.loaded = len(new_rows)
    result.quarantined = len(new_bad)
    result.already_loaded = len(rows) - len(new_rows) + len(quarantine) - len(new_bad)
    return result


def _prepare(
    warehouse: Warehouse, settings: Settings, stream: str, messages: list[Message]
) -> tuple[list[tuple[Any, ...]], list[tuple[int, str | None, str, str]], int]:
    """Rows for web.hits, quarantined records, and how many bot hits were dropped."""
    sites = _site_rules(warehouse)
    salts = DaySalts.of(warehouse)
    rows: list[tuple[Any, ...]] = []
    quarantine: list[tuple[int, str | None, str, str]] = []
    bots = 0
    for message in messages:
        try:
            row = _row(
                hit_id(stream, message.sequence),
                json.loads(message.payload),
                settings,
                sites,
                salts,
            )
        except Exception as error:  # one bad record must not stop the stream from loading
            reason = error.reason if isinstance(error, Rejected) else f"unreadable record: {error}"
            field = error.field if isinstance(error, Rejected) else None
            raw = message.payload.decode("utf-8", errors="replace")
            quarantine.append((message.sequence, field, reason, raw))
            continue
        if row is None:
            bots += 1
        else:
            rows.append(row)
    return rows, quarantine, bots


def load_until(
    warehouse: Warehouse,
    settings: Settings,
    stop: threading.Event,
    report: Callable[[dict[str, int]], None],
    *,
    follow: bool = True,
) -> None:
    """``tally web load``: load the hit log (the stream, or the local directory) and rebuild
    the visits of the days it touched; with ``follow``, again every
    ``web.load_interval_seconds`` until ``stop`` is set."""
    stream = StreamLoader(warehouse, settings).start() if settings.web.hit_log_url else None
    try:
        while True:
            try:
                result = stream.load() if stream is not None else load_hits(warehouse, settings)
                if result.loaded:
                    sessionize_alone(warehouse, settings)
            except Exception as problem:  # following: a busy warehouse, a NATS election...
                if not follow:
                    raise
                # nothing was acknowledged: the batch comes again after the ack wait
                logger.warning("hit loader: %s; trying again", problem, exc_info=True)
            else:
                if result.loaded or result.quarantined or not follow:
                    report(result.as_dict())
            if not follow or stop.wait(settings.web.load_interval_seconds):
                return
    finally:
        if stream is not None:
            stream.close()
