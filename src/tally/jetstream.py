"""A connection to a NATS JetStream cluster, usable from threads and other event loops.

nats-py is asyncio-only and its connection belongs to one event loop. tally's callers are
blocking threads (the loader, the scheduler, the stream engine) and uvicorn's event loop
(the tracking endpoint), so a ``Link`` runs its own loop in a daemon thread and owns the
connection there: ``call`` runs a coroutine on it from any thread and waits for the result,
``submit`` hands one over from another event loop and returns an awaitable.

The connection reconnects by itself (to any server of the list, forever); a request made
while no server answers fails with ``JetStreamUnavailable``, a transient error, and the
caller retries. ``Lease`` is a lock with a time limit in a key-value bucket: one holder at
a time; a holder that stops renewing (killed, cut off) loses it when the bucket's age limit
passes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from tally.errors import TransientError

logger = logging.getLogger(__name__)

Result = TypeVar("Result")

# what a request to a cluster that is electing a leader, or unreachable, raises
UNAVAILABLE: tuple[type[BaseException], ...] = (
    TimeoutError,
    asyncio.TimeoutError,
    nats.errors.Error,  # timeouts, no responders, connection closed/reconnecting
    nats.js.errors.Error,  # API errors: "no suitable peers", "stream offline", ...
    OSError,  # refused, reset
)


class JetStreamUnavailable(TransientError):
    """JetStream did not answer (no server, or a leader election in progress)."""


def stream_sequence(message: Msg) -> int:
    """The stream sequence of a message a JetStream consumer delivered, read from its reply
    subject (``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.…``, or with a domain
    and account hash before the stream name): nats-py's ``metadata`` builds a dataclass
    with a timestamp for every message, a fifth of a loader's CPU (profiled)."""
    tokens = (message.reply or "").split(".")
    if tokens[:2] == ["$JS", "ACK"]:
        if len(tokens) == 9:
            return int(tokens[5])
        if len(tokens) >= 11:
            return int(tokens[7])
    return int(message.metadata.sequence.stream)  # raises: not a JetStream message


def servers(url: str) -> list[str]:
    """The server URLs of a setting such as ``nats://a:4222,nats://b:4222``."""
    return [part.strip() for part in url.split(",") if part.strip()]


class Link:
    """One NATS connection on an event loop of its own thread."""

    def __init__(self, url: str, *, name: str = "tally", connect_seconds: float = 10.0) -> None:
        self.url = url
        self.name = name
        self.connect_seconds = connect_seconds
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"nats-{name}", daemon=True)
        self.connection: NATS | None = None
        self.js: JetStreamContext | None = None
        self.closing = False

    def start(self) -> Link:
        """Start the loop and connect; raise ``JetStreamUnavailable`` if no server answers."""
        self._thread.start()
        try:
            self.call(self._connect(), timeout=self.connect_seconds + 5)
        except BaseException:
            self.close()
            raise
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # stopped by close(): let what is left (the client's own tasks) end, then close
        leftovers = asyncio.all_tasks(self.loop)
        for task in leftovers:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    async def _connect(self) -> None:
        async def disconnected() -> None:
            if self.closing:
                return
            logger.warning("%s: NATS connection lost, reconnecting", self.name)

        async def reconnected() -> None:
            logger.info("%s: NATS reconnected", self.name)

        async def error(problem: Exception) -> None:
            logger.debug("%s: NATS: %s", self.name, problem)

        deadline = time.monotonic() + self.connect_seconds
        while True:
            try:
                self.connection = await nats.connect(
                    servers=servers(self.url),
                    name=self.name,
                    connect_timeout=2,
                    reconnect_time_wait=0.25,
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    disconnected_cb=disconnected,
                    reconnected_cb=reconnected,
                    error_cb=error,
                )
                break
            except UNAVAILABLE as problem:
                if time.monotonic() > deadline:
                    raise JetStreamUnavailable(
                        f"no NATS server answered at {self.url}: {problem}"
                    ) from None
                await asyncio.sleep(0.25)
        self.js = self.connection.jetstream()

    def call(self, coroutine: Coroutine[Any, Any, Result], timeout: float | None = None) -> Result:
        """Run ``coroutine`` on the link's loop and wait for it (from any other thread).

        Raises ``JetStreamUnavailable`` when ``coroutine`` has not ended within ``timeout``
        or when one of its NATS requests timed out."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        # wait() and not result(timeout): since Python 3.11 concurrent.futures.TimeoutError
        # is the builtin TimeoutError, which nats' request timeouts subclass, so catching it
        # around result() cannot tell this wait running out from a 5 s request timeout
        done, _ = concurrent.futures.wait([future], timeout)
        if not done:
            future.cancel()
            raise JetStreamUnavailable(f"NATS did not answer within {timeout} s")
        try:
            return future.result()
        except TimeoutError as problem:  # nats.errors.TimeoutError: one request's own limit
            raise JetStreamUnavailable(f"a NATS request timed out ({problem})") from None

    def submit(self, coroutine: Coroutine[Any, Any, Result]) -> Awaitable[Result]:
        """Hand ``coroutine`` to the link's loop; await the result in the caller's loop."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def close(self) -> None:
        """Flush and close the connection, then stop the loop and its thread."""
        if not self._thread.is_alive():
            return
        if self.connection is not None:
            try:
                self.call(self._close_connection(self.connection), timeout=10)
            except Exception as problem:  # closing: nothing left to protect
                logger.debug("%s: NATS close: %s", self.name, problem)
            self.connection = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _close_connection(self, connection: NATS) -> None:
        # flush what was sent (acknowledgements), then close: a drain would wait for pull
        # subscriptions' queues that fetch() empties without marking them done
        self.closing = True
        try:
            await asyncio.wait_for(connection.flush(), 3)
        except Exception as problem:  # no server to flush to
            logger.debug("%s: NATS flush: %s", self.name, problem)
        await connection.close()

    # -- streams and buckets -------------------------------------------------------------

    def context(self) -> JetStreamContext:
        if self.js is None:
            raise JetStreamUnavailable("the NATS link is not started")
        return self.js

    async def ensure_stream(self, config: StreamConfig) -> None:
        """Create the stream, or keep the one of that name (its settings are the operator's
        once it exists: changing replicas or limits is ``nats stream edit``)."""
        js = self.context()
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError as problem:
            if problem.err_code != 10058:  # "stream name already in use"
                raise
            await js.stream_info(str(config.name))

    async def bucket(self, name: str, *, ttl: float, replicas: int = 1) -> KeyValue:
        """The key-value bucket ``name``, created with an age limit when missing."""
        js = self.context()
        try:
            return await js.key_value(name)
        except nats.js.errors.BucketNotFoundError:
            pass
        config = KeyValueConfig(
            bucket=name, ttl=ttl, replicas=replicas, storage=StorageType.FILE, history=1
        )
        try:
            return await js.create_key_value(config)
        except nats.js.errors.BadRequestError:  # created meanwhile by another process
            return await js.key_value(name)


async def retrying(
    attempt: Callable[[], Awaitable[Result]], *, seconds: float, what: str
) -> Result:
    """``attempt()`` until it succeeds or ``seconds`` pass (backing off from 50 ms to 1 s)."""
    deadline = time.monotonic() + seconds
    delay = 0.05
    while True:
        try:
            return await attempt()
        except UNAVAILABLE as problem:
            if time.monotonic() + delay > deadline:
                raise JetStreamUnavailable(f"{what}: {type(problem).__name__} {problem}") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


class Lease:
    """Held by one process at a time: a key created in a bucket whose age limit is the
    lease's length, renewed by its holder well before that (compare-and-set on revision).

    ``acquire`` and ``renew`` answer whether this process holds the lease now. A holder that
    is killed stops renewing, and the key expires ``seconds`` later; a holder cut off from
    the cluster learns on its next renewal that it lost it.
    """

    def __init__(
        self, link: Link, bucket: str, key: str, seconds: float, *, holder: str = ""
    ) -> None:
        self.link = link
        self.bucket_name = bucket
        self.key = key
        self.seconds = seconds
        self.owner = holder or uuid.uuid4().hex  # the key's value: who holds it
        self.revision: int | None = None
        self.renewed_at = 0.0

    async def _bucket(self) -> KeyValue:
        return await self.link.bucket(self.bucket_name, ttl=self.seconds)

    def acquire(self) -> bool:
        return self.link.call(self._acquire(), timeout=self.seconds)

    async def _acquire(self) -> bool:
        if self.revision is not None:
            return await self._renew()
        bucket = await self._bucket()
        started = time.monotonic()
        try:
            self.revision = await bucket.create(self.key, self.owner.encode())
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        self.renewed_at = started
        return True

    def renew(self) -> bool:
        return self.link.call(self._renew(), timeout=self.seconds)

    async def _renew(self) -> bool:
        if self.revision is None:
            return False
        bucket = await self._bucket()
        started = time.monotonic()
        try:
            self.revision = await bucket.update(self.key, self.owner.encode(), last=self.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            self.revision = None  # expired and taken (or deleted): someone else may hold it
            return False
        self.renewed_at = started
        return True

    def held(self) -> bool:
        """Held, and renewed recently enough that nobody else can have taken it."""
        return self.revision is not None and time.monotonic() - self.renewed_at < self.seconds

    def release(self) -> None:
        if self.revision is None:
            return
        revision, self.revision = self.revision, None
        try:
            self.link.call(self._release(revision), timeout=5)
        except Exception as problem:  # it expires anyway
            logger.debug("lease %s: release failed: %s", self.key, problem)

    async def _release(self, revision: int) -> None:
        bucket = await self._bucket()
        await bucket.delete(self.key, last=revision)
