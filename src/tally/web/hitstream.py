"""The hit log on a NATS JetStream stream: what ``web.hit_log_url = "nats://…"`` switches on.

``HitStream`` stands where the local ``HitLog`` stands (``start``, ``append``, ``close``):
the tracking endpoint hands it a request's records and acknowledges the request only once
JetStream has acknowledged every one of them, i.e. once a majority of the stream's
replicas hold it. Any number of ``tally serve`` processes may publish to the same stream.

Each record carries a message id (``Nats-Msg-Id``): this process's random node id and a
counter. A publish that timed out (a leader election takes about five seconds) is sent
again with the same id until ``web.publish_timeout_seconds`` pass, and JetStream stores it
once: a retried publish is a no-op. Past that time the request is answered 503 and the
client may send it again (a new hit to tally: a client with no answer cannot know whether
it was stored).

A record's id is ``<stream>:<sequence>``, the stream sequence JetStream gave it; the loader
(``tally.web.streamload``) keeps it as ``web.hits.hit_id``.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from tally.config import WebSettings
from tally.jetstream import JetStreamUnavailable, Link, retrying
from tally.web.hitlog import HitLogError

# publishes in flight at once for one bulk request
WINDOW = 512
DUPLICATE_WINDOW_SECONDS = 120.0


def subject(settings: WebSettings) -> str:
    return f"tally.hits.{settings.hit_stream}"


def stream_config(settings: WebSettings) -> StreamConfig:
    """The stream: every hit kept ``retention_days`` (a replayable log, as the local one)."""
    return StreamConfig(
        name=settings.hit_stream,
        subjects=[subject(settings)],
        retention=RetentionPolicy.LIMITS,
        max_age=max(1, settings.retention_days) * 86400.0,
        storage=StorageType.FILE,
        num_replicas=settings.hit_stream_replicas,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        discard=DiscardPolicy.OLD,
    )


def hit_id(stream: str, sequence: int) -> str:
    """``web.hits.hit_id`` of a stream record (zero-padded: ids sort by arrival)."""
    return f"{stream}:{sequence:012d}"


class HitStream:
    """Publishes records to JetStream; ``await append([...])`` returns their ids once
    JetStream acknowledged them all."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.subject = subject(settings)
        self.node = uuid.uuid4().hex[:12]
        self._counter = itertools.count(1)
        self.link = Link(settings.hit_log_url, name=f"tally-tracking-{self.node}")
        self.batches = 0  # acknowledged appends
        self.records = 0  # records in them
        self.duplicates = 0  # publishes JetStream had already stored (retries)

    def start(self) -> None:
        self.link.start()

        async def ensure() -> None:
            await self.link.ensure_stream(stream_config(self.settings))

        # nodes and loaders started together create the stream at once: a create of a stream
        # still electing its leader can go unanswered (tally.stream.partitions.PREPARE_SECONDS)
        self.link.call(retrying(ensure, seconds=30, what="creating the hit stream"), timeout=40)

    def close(self) -> None:
        self.link.close()

    def durable(self) -> tuple[str, int]:
        """Nothing local is pending: what was acknowledged is in the stream."""
        return ("", 0)

    async def append(self, payloads: list[bytes]) -> list[str]:
        ids = [f"{self.node}-{next(self._counter)}" for _ in payloads]
        try:
            result = await self.link.submit(self._publish_all(payloads, ids))
        except JetStreamUnavailable as problem:
            raise HitLogError(f"JetStream did not acknowledge: {problem}") from None
        self.batches += 1
        self.records += len(payloads)
        return result

    async def _publish_all(self, payloads: list[bytes], ids: list[str]) -> list[str]:
        found: list[str] = []
        for start in range(0, len(payloads), WINDOW):
            window = zip(payloads[start : start + WINDOW], ids[start : start + WINDOW], strict=True)
            found += await asyncio.gather(*(self._publish(p, i) for p, i in window))
        return found

    async def _publish(self, payload: bytes, message_id: str) -> str:
        js = self.link.context()
        headers = {"Nats-Msg-Id": message_id}
        timeout = min(2.0, self.settings.publish_timeout_seconds)

        async def attempt() -> str:
            ack = await js.publish(self.subject, payload, timeout=timeout, headers=headers)
            if ack.duplicate:
                self.duplicates += 1
            return hit_id(ack.stream, ack.seq)

        return await retrying(
            attempt, seconds=self.settings.publish_timeout_seconds, what="publishing a hit"
        )
