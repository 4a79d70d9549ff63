"""Several stream engines sharing the work by partition, with their state in JetStream.

Events are published to the JetStream stream ``TALLY_EVENTS``, subject
``tally.events.<partition>``, where the partition is a hash of the event's key (the sensor,
device or site id) modulo the number of partitions, so one key's events always meet in one
partition, in order.

A ``PartitionedEngine`` process takes partitions by leases (``tally.jetstream.Lease``) in
the bucket ``tally_stream_owners``: each partition is owned by one live process at a time,
and each process takes its fair share (partitions / live processes, counted from the
``tally_stream_members`` bucket that every process renews). For each partition it owns it
runs an ordinary ``Engine`` (same rules, windows and alert book), fed from that partition's
durable consumer ``engine-p<N>``. After each batch of events (and after a tick that changed
an alert) the engine's windows and alerts, with the last stream sequence they include, are
saved to the bucket ``tally_stream_state`` (key ``p<N>``); then the batch is acknowledged.

A process that dies stops renewing: ``lease_seconds`` later its partitions are free, another
process takes them, restores the checkpoint and reads on from the consumer (messages the
checkpoint already includes are skipped by sequence: a redelivery, after the ack wait or a
take-over, is never counted twice). Each partition's engine remembers the event ids it
accepted (``tally.stream.dedupe``) in that checkpoint, with its share of
``stream.dedupe.max_entries``. Notifications carry an id made of the
alert fingerprints, their state and when that state began; a notification is sent only by
the process that first claims its id in the bucket ``tally_stream_notified``, so a resolve
(or a firing the dead owner sent after its last checkpoint) is not sent twice. A claim whose
sender died before sending is lost: at most once, on purpose (a page twice is the failure
this prevents).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from nats.js.client import JetStreamContext

from tally.jetstream import Lease, Link, retrying, stream_sequence
from tally.stream.engine import Engine, Ingested
from tally.stream.events import Event
from tally.stream.notifiers import Notification, Notifier
from tally.stream.rules import RuleSpec
from tally.stream.settings import StreamSettings

logger = logging.getLogger(__name__)

STREAM = "TALLY_EVENTS"
SUBJECT = "tally.events"
OWNERS = "tally_stream_owners"
MEMBERS = "tally_stream_members"
STATE = "tally_stream_state"
NOTIFIED = "tally_stream_notified"
NOTIFIED_DAYS = 7
IDLE_SECONDS = 0.25  # with no events, a partition is polled and ticked this often
# Engines started together create the same stream and buckets at once. A create of one that
# another process is still creating (its replicas electing their leader) can go unanswered
# (seen with nats-server 2.9: the request times out after nats-py's 5 s), so the set-up is
# retried until every stream and bucket is found made, for this long.
PREPARE_SECONDS = 60.0


def partition_of(key: str, partitions: int) -> int:
    """The partition of an event key (stable across processes and versions: CRC-32)."""
    return zlib.crc32(key.encode("utf-8")) % partitions


def stream_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=STREAM,
        subjects=[f"{SUBJECT}.>"],
        storage=StorageType.FILE,
        num_replicas=replicas,
        max_age=7 * 86400.0,
    )


async def publish_events(
    link: Link, events: list[Event], partitions: int, *, seconds: float = 30.0
) -> None:
    """Publish events to their partitions' subjects, waiting for JetStream's acks: one
    partition's events one after another (so a key's events stay in order), the partitions
    at once. Each event is published with a message id of its own (``Nats-Msg-Id``), the
    same on every attempt, so an attempt whose ack was lost and the retry after it are
    stored once (JetStream's duplicate window, 2 minutes). An event not acknowledged within
    ``seconds`` raises ``JetStreamUnavailable``: the caller's client sends again, and only
    an event id (``stream.dedupe.field``) makes that copy count once."""
    js = link.context()
    batches: dict[int, list[tuple[bytes, str]]] = {}
    for event in events:
        payload = json.dumps(event.as_json()).encode()
        message_id = uuid.uuid4().hex
        batches.setdefault(partition_of(event.key, partitions), []).append((payload, message_id))

    async def publish(partition: int, payloads: list[tuple[bytes, str]]) -> None:
        subject = f"{SUBJECT}.{partition}"
        for payload, message_id in payloads:

            async def attempt(payload: bytes = payload, message_id: str = message_id) -> None:
                headers = {"Nats-Msg-Id": message_id}
                await js.publish(subject, payload, timeout=2, headers=headers)

            await retrying(attempt, seconds=seconds, what="publishing an event")

    await asyncio.gather(*(publish(p, payloads) for p, payloads in batches.items()))


def notification_id(notification: Notification) -> str:
    """The same for every engine that sends this state change of these alerts."""
    parts = [notification.get("groupKey", ""), notification.get("status", "")]
    for alert in sorted(notification.get("alerts", []), key=lambda a: a.get("fingerprint", "")):
        parts += [alert.get("fingerprint", ""), alert.get("status", "")]
        parts.append(str(alert.get("startsAt", "")))
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class ClaimingNotifier(Notifier):
    """Sends a notification only when this process is the first to claim its id."""

    def __init__(self, inner: Notifier, claim: Callable[[str], bool]) -> None:
        super().__init__(inner.spec, inner.client)
        self.inner = inner
        self.claim = claim
        self.skipped = 0

    def send(self, notification: Notification) -> None:
        key = f"{self.inner.spec.name}.{notification_id(notification)}"
        if not self.claim(key):
            self.skipped += 1
            logger.info("notification %s was sent by another engine", key)
            return
        self.inner.send({**notification, "id": notification_id(notification)})


@dataclass
class _Owned:
    partition: int
    lease: Lease
    engine: Engine
    subscription: JetStreamContext.PullSubscription
    sequence: int  # the last stream sequence the engine's state includes
    ticked_at: float = 0.0


class PartitionedEngine:
    """One engine process among several; ``owned()`` names the partitions it runs."""

    def __init__(
        self,
        url: str,
        settings: StreamSettings,
        rules: list[RuleSpec],
        notifiers: dict[str, Notifier],
        *,
        partitions: int = 8,
        lease_seconds: float = 10.0,
        replicas: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.partitions = partitions
        self.lease_seconds = lease_seconds
        self.replicas = replicas
        self.clock = clock
        self.member = uuid.uuid4().hex[:12]
        self.link = Link(url, name=f"tally-engine-{self.member}")
        self.notifiers = {
            name: ClaimingNotifier(notifier, self._claim) for name, notifier in notifiers.items()
        }
        self._owned: dict[int, _Owned] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tally-partitions", daemon=True)
        self._last_balance = 0.0
        self.took_over: dict[int, float] = {}  # partition → when this process took it

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> PartitionedEngine:
        self.link.start()
        self.link.call(
            retrying(
                self._prepare, seconds=PREPARE_SECONDS, what="creating its stream and buckets"
            ),
            timeout=PREPARE_SECONDS + 10,
        )
        self._thread.start()
        return self

    async def _prepare(self) -> None:
        await self.link.ensure_stream(stream_config(self.replicas))
        for bucket, ttl in (
            (OWNERS, self.lease_seconds),
            (MEMBERS, self.lease_seconds),
            (STATE, 0.0),
            (NOTIFIED, NOTIFIED_DAYS * 86400.0),
        ):
            await self.link.bucket(bucket, ttl=ttl, replicas=self.replicas)

    def stop(self) -> None:
        """Checkpoint every owned partition and hand it back."""
        self._stop.set()
        self._thread.join(30)
        for partition in list(self._owned):
            self._release(partition)
        self.link.close()

    def owned(self) -> set[int]:
        return set(self._owned)

    def engine(self, partition: int) -> Engine | None:
        owned = self._owned.get(partition)
        return owned.engine if owned else None

    # -- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if time.monotonic() - self._last_balance >= self.lease_seconds / 3:
                    self._balance()
                    self._last_balance = time.monotonic()
                busy = False
                for partition in list(self._owned):
                    busy = self._process(partition) or busy
            except Exception:  # one bad round must not end the engine
                logger.exception("partitioned engine %s", self.member)
                busy = False
            self._stop.wait(0.02 if busy else IDLE_SECONDS)

    def _balance(self) -> None:
        """Renew owned leases, then take free partitions (or give back extra ones) until
        this process owns its share."""
        self.link.call(self._register(), timeout=self.lease_seconds)
        for partition, owned in list(self._owned.items()):
            if not owned.lease.renew():
                logger.warning("partition %d: lease lost; dropping it", partition)
                self._drop(partition)
        members = max(1, self.link.call(self._members(), timeout=self.lease_seconds))
        share = math.ceil(self.partitions / members)
        for partition in range(self.partitions):
            if len(self._owned) >= share:
                break
            if partition not in self._owned:
                self._take(partition)
        while len(self._owned) > share:
            self._release(max(self._owned))

    async def _register(self) -> None:
        bucket = await self.link.bucket(MEMBERS, ttl=self.lease_seconds)
        await bucket.put(self.member, b"1")

    async def _members(self) -> int:
        bucket = await self.link.bucket(MEMBERS, ttl=self.lease_seconds)
        try:
            return len(await bucket.keys())
        except nats.js.errors.NoKeysError:
            return 0

    def _take(self, partition: int) -> None:
        lease = Lease(self.link, OWNERS, f"p{partition}", self.lease_seconds, holder=self.member)
        if not lease.acquire():
            return
        snapshot = self.link.call(self._load(partition), timeout=self.lease_seconds)
        folder = Path(self.settings.state_dir) / f"p{partition}-{self.member}"
        # a partition sees its share of the events, so its share of the memory covers the
        # same horizon, and its checkpoint stays well under NATS' 1 MB message limit
        dedupe = self.settings.dedupe.model_copy(
            update={"max_entries": math.ceil(self.settings.dedupe.max_entries / self.partitions)}
        )
        engine = Engine(
            self.settings.model_copy(update={"state_dir": str(folder), "dedupe": dedupe}),
            self.rules,
            clock=self.clock,
            notifiers=dict(self.notifiers),
        )
        sequence = 0
        if snapshot is not None:
            engine.restore_snapshot(snapshot)
            sequence = int(snapshot.get("sequence", 0))
        subscription = self.link.call(self._subscribe(partition), timeout=self.lease_seconds)
        self._owned[partition] = _Owned(partition, lease, engine, subscription, sequence)
        self.took_over[partition] = time.monotonic()
        logger.info(
            "partition %d: taken by %s (from sequence %d)", partition, self.member, sequence
        )

    async def _load(self, partition: int) -> dict[str, Any] | None:
        bucket = await self.link.bucket(STATE, ttl=0.0)
        try:
            entry = await bucket.get(f"p{partition}")
        except nats.js.errors.KeyNotFoundError:
            return None
        return json.loads(entry.value) if entry.value else None

    async def _subscribe(self, partition: int) -> JetStreamContext.PullSubscription:
        durable = f"engine-p{partition}"
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=max(1.0, self.lease_seconds),
            max_ack_pending=10_000,
        )
        return await self.link.context().pull_subscribe(
            f"{SUBJECT}.{partition}", durable=durable, stream=STREAM, config=config
        )

    def _process(self, partition: int) -> bool:
        """Feed the partition's new events to its engine and tick it (at least every
        ``IDLE_SECONDS``); checkpoint, then acknowledge. True when there were events."""
        owned = self._owned[partition]
        messages = self.link.call(self._fetch(owned), timeout=30)
        fresh = [m for m in messages if stream_sequence(m) > owned.sequence]
        events = [Event(**json.loads(m.data)) for m in fresh]
        if events:
            owned.engine.ingest(events)
        notifications = []
        if events or time.monotonic() - owned.ticked_at >= IDLE_SECONDS:
            notifications = owned.engine.tick()
            owned.ticked_at = time.monotonic()
        if not messages and not notifications:
            return False
        if messages:
            owned.sequence = max(owned.sequence, *(stream_sequence(m) for m in messages))
        if not owned.lease.held():  # cut off past the lease: another process may own it
            self._drop(partition)
            return False
        self._checkpoint(owned)
        if messages:
            self.link.call(_acknowledge(messages, self.link), timeout=30)
        return bool(messages)

    async def _fetch(self, owned: _Owned) -> list[Msg]:
        try:
            return await owned.subscription.fetch(500, timeout=0.05)
        except (nats.errors.TimeoutError, TimeoutError):
            return []

    def _checkpoint(self, owned: _Owned) -> None:
        snapshot = {**owned.engine.snapshot(), "sequence": owned.sequence}
        self.link.call(self._save(owned.partition, snapshot), timeout=self.lease_seconds)

    async def _save(self, partition: int, snapshot: dict[str, Any]) -> None:
        bucket = await self.link.bucket(STATE, ttl=0.0)
        await bucket.put(f"p{partition}", json.dumps(snapshot, separators=(",", ":")).encode())

    def _release(self, partition: int) -> None:
        owned = self._owned.get(partition)
        if owned is None:
            return
        try:
            self._checkpoint(owned)
        finally:
            self._drop(partition)
            owned.lease.release()

    def _drop(self, partition: int) -> None:
        owned = self._owned.pop(partition, None)
        if owned is not None:
            owned.engine.deliverer.close()
            try:
                self.link.call(owned.subscription.unsubscribe(), timeout=5)
            except Exception as problem:  # the consumer stays; only this binding goes
                logger.debug("partition %d: unsubscribe: %s", partition, problem)

    # -- notification claims -------------------------------------------------------------

    def _claim(self, key: str) -> bool:
        return self.link.call(self._claim_async(key), timeout=30)

    async def _claim_async(self, key: str) -> bool:
        bucket = await self.link.bucket(NOTIFIED, ttl=NOTIFIED_DAYS * 86400.0)
        try:
            await bucket.create(key, self.member.encode())
            return True
        except nats.js.errors.KeyWrongLastSequenceError:
            entry = await bucket.get(key)
            return entry.value == self.member.encode()  # our own claim: a retried send


async def _acknowledge(messages: list[Msg], link: Link) -> None:
    for message in messages:
        await message.ack()
    if link.connection is not None:
        await link.connection.flush(timeout=10)


class JetStreamSink(Engine):
    """What the MQTT and HTTP inputs feed when engines run on JetStream: it evaluates
    nothing; events it is handed, after the inputs' usual screening, are published to their
    partitions for the ``PartitionedEngine`` processes (``ingest`` returns once JetStream
    has acknowledged them all, or raises ``JetStreamUnavailable``)."""

    blocking_ingest = True

    def __init__(
        self,
        link: Link,
        settings: StreamSettings,
        partitions: int,
        clock: Callable[[], float] = time.time,
        *,
        owns_link: bool = False,
    ) -> None:
        folder = Path(settings.state_dir) / "jetstream-sink"
        super().__init__(settings.model_copy(update={"state_dir": str(folder)}), [], clock=clock)
        self.link = link
        self.partitions = partitions
        self.owns_link = owns_link
        self.publish_seconds = 30.0

    @classmethod
    def connect(cls, settings: StreamSettings) -> JetStreamSink:
        """A sink with its own connection to ``stream.jetstream.url`` (what ``tally serve``
        uses); the event stream is created if no engine has created it yet."""
        jetstream = settings.jetstream
        link = Link(jetstream.url, name="tally-events").start()

        async def ensure() -> None:
            await link.ensure_stream(stream_config(jetstream.replicas))

        try:  # retried as the engines' set-up is (PREPARE_SECONDS): they may create it now
            link.call(
                retrying(ensure, seconds=PREPARE_SECONDS, what="creating the event stream"),
                timeout=PREPARE_SECONDS + 10,
            )
        except BaseException:
            link.close()
            raise
        return cls(link, settings, jetstream.partitions, owns_link=True)

    def ingest(self, events: list[Event], delivery: int | None = None) -> Ingested:
        """Publish; event ids are checked by the engines (with their checkpoints), so a copy
        is published and counted there as a duplicate. An MQTT delivery is remembered here,
        in this process only, once JetStream has its events."""
        self.link.call(
            publish_events(self.link, events, self.partitions, seconds=self.publish_seconds),
            timeout=self.publish_seconds + 5,
        )
        with self._lock:
            self.received += len(events)
            if delivery is not None:
                self.recent.remember(delivery, self.clock())
        return Ingested(len(events), 0, 0)

    def start(self) -> None:
        """Nothing runs here: the engines are elsewhere."""

    def stop(self) -> None:
        if self.owns_link:
            self.link.close()
