"""Stream engines sharing partitions through JetStream: one owner per partition, state
checkpointed in key-value, a dead owner's partitions taken over, nothing notified twice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.stream.conftest import Recorder

from tally.jetstream import Link
from tally.stream.events import Event
from tally.stream.partitions import (
    JetStreamSink,
    PartitionedEngine,
    notification_id,
    partition_of,
    publish_events,
)
from tally.stream.rules import parse_rules
from tally.stream.settings import stream_settings

pytestmark = pytest.mark.services

PARTITIONS = 4
LEASE = 3.0
# the stated take-over time: the dead owner's lease runs out, then the next balancing round
TAKE_OVER_SECONDS = LEASE + LEASE / 3 + 1.0

RULES = [
    {
        "name": "hot",
        "type": "threshold",
        "source": "sensors",
        "field": "v",
        "aggregate": "max",
        "window": {"size": 1, "lateness": 0},
        "op": ">",
        "value": 50,
    }
]


def test_a_key_always_lands_in_one_partition_and_ids_follow_the_state_change() -> None:
    assert partition_of("sensor-7", 8) == partition_of("sensor-7", 8)
    assert {partition_of(f"s{n}", 4) for n in range(100)} == {0, 1, 2, 3}
    firing = {
        "groupKey": "{}",
        "status": "firing",
        "alerts": [{"fingerprint": "hot/s1", "status": "firing", "startsAt": "t0"}],
    }
    resolved = {
        **firing,
        "status": "resolved",
        "alerts": [{**firing["alerts"][0], "status": "resolved"}],
    }
    assert notification_id(firing) == notification_id({**firing, "id": "other", "sentAt": 9})
    assert notification_id(firing) != notification_id(resolved)


def engine(
    url: str, tmp_path: Path, name: str, lease: float = LEASE
) -> tuple[PartitionedEngine, Recorder]:
    settings = stream_settings(
        {
            "state_dir": str(tmp_path / name),
            "route": {"receivers": ["ops"], "group_wait": 0, "group_interval": 0},
        }
    )
    recorder = Recorder()
    running = PartitionedEngine(
        url,
        settings,
        parse_rules(RULES),
        {"ops": recorder},
        partitions=PARTITIONS,
        lease_seconds=lease,
        replicas=3,
    )
    return running.start(), recorder


def wait_until(check, seconds: float, tick=None) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "did not happen in time"
        if tick:
            tick()
        time.sleep(0.1)


def kill(running: PartitionedEngine) -> None:
    """As kill -9 would leave it: no last checkpoint, no lease handed back."""
    running._stop.set()
    running._thread.join(30)
    running.link.close()


def test_the_survivor_takes_a_dead_engines_firing_alert_and_notifies_its_resolve_once(
    nats_cluster, tmp_path: Path
) -> None:
    first, first_sent = engine(nats_cluster.url, tmp_path, "a")
    second, second_sent = engine(nats_cluster.url, tmp_path, "b")
    publisher = Link(nats_cluster.url, name="sensor").start()

    def send(value: float) -> None:
        event = Event("sensors", "s1", time.time(), {"v": value})
        publisher.call(publish_events(publisher, [event], PARTITIONS), timeout=30)

    partition = partition_of("s1", PARTITIONS)
    try:
        wait_until(lambda: len(first.owned()) == len(second.owned()) == PARTITIONS // 2, 30)
        owner, survivor = (first, second) if partition in first.owned() else (second, first)
        owner_sent, survivor_sent = (
            (first_sent, second_sent) if owner is first else (second_sent, first_sent)
        )
        wait_until(lambda: len(owner_sent.sent) == 1, 30, tick=lambda: send(90))
        assert owner_sent.sent[0]["status"] == "firing"
        killed_at = time.monotonic()
        kill(owner)
        wait_until(lambda: partition in survivor.owned(), 30, tick=lambda: send(90))
        took = survivor.took_over[partition] - killed_at
        assert took <= TAKE_OVER_SECONDS
        alerts = survivor.engine(partition).book.alerts
        assert alerts["hot/s1"].state == "firing"  # restored from the checkpoint
        wait_until(lambda: survivor_sent.sent, 30, tick=lambda: send(1))
        time.sleep(LEASE)  # room for a second notification, were there one
        survivor_sent_statuses = [n["status"] for n in survivor_sent.sent]
    finally:
        publisher.close()
        first.stop() if first is not owner else None
        second.stop() if second is not owner else None
    assert survivor_sent_statuses == ["resolved"]  # by the survivor, once
    assert [n["status"] for n in owner_sent.sent] == ["firing"]  # the firing, once
    print(f"take-over: {took:.2f} s (stated: {TAKE_OVER_SECONDS:.1f} s)")


def test_events_handed_to_the_sink_reach_the_engine_owning_their_key(
    nats_cluster, tmp_path: Path
) -> None:
    """What MQTT (tally stream --jetstream --mqtt) feeds: screened events published to their
    partitions, evaluated by whichever engine owns each."""
    running, _ = engine(nats_cluster.url, tmp_path, "a", lease=10.0)  # one engine: no hurry
    settings = stream_settings({"state_dir": str(tmp_path / "sink")})
    sink = JetStreamSink(running.link, settings, PARTITIONS)
    try:
        wait_until(lambda: len(running.owned()) == PARTITIONS, 30)
        now = time.time()
        events = [Event("sensors", f"s{n}", now, {"v": 1.0}) for n in range(6)]
        assert sink.ingest(events) == (6, 0, 0)
        wait_until(lambda: sum(running.engine(p).received for p in range(PARTITIONS)) == 6, 30)
        # each engine received exactly the events whose key hashes to its partition
        expected = [0] * PARTITIONS
        for n in range(6):
            expected[partition_of(f"s{n}", PARTITIONS)] += 1
        assert [running.engine(p).received for p in range(PARTITIONS)] == expected
    finally:
        running.stop()


def test_events_posted_to_tally_serve_go_to_jetstream_for_the_engines(
    nats_cluster, tmp_path: Path
) -> None:
    """With stream.jetstream.url set, POST /api/events publishes (202 after JetStream's
    acknowledgement); the engine owning each key's partition evaluates it."""
    from starlette.testclient import TestClient

    from tally.config import load_settings
    from tally.server.app import create_app
    from tally.server.auth import create_token
    from tally.stream.partitions import JetStreamSink
    from tally.warehouse import connect

    running, _ = engine(nats_cluster.url, tmp_path, "a", lease=10.0)
    settings = load_settings(
        environ={
            "TALLY_DATA_DIR": str(tmp_path / "serve"),
            "TALLY_STREAM__JETSTREAM__URL": nats_cluster.url,
            "TALLY_STREAM__JETSTREAM__PARTITIONS": str(PARTITIONS),
        }
    )
    warehouse = connect(settings.warehouse_url)
    warehouse.migrate()
    token = create_token(warehouse, "sensors")
    warehouse.close()
    now = time.time()
    batch = [
        {"source": "sensors", "key": f"s{n}", "time": now, "values": {"v": 1.0}} for n in range(6)
    ]
    try:
        wait_until(lambda: len(running.owned()) == PARTITIONS, 30)
        app = create_app(settings, run_loader=False, stream=True)
        assert isinstance(app.state.stream_engine, JetStreamSink)
        with TestClient(app) as client:
            answer = client.post(
                "/api/events", json=batch, headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 202, answer.text
            assert answer.json()["accepted"] == 6
            late = client.post(
                "/api/events",
                json=[dict(batch[0], time=now - 86_400)],
                headers={"Authorization": f"Bearer {token}"},
            )
            assert late.status_code == 400  # screened here, as without JetStream
        received = lambda: [running.engine(p).received for p in range(PARTITIONS)]  # noqa: E731
        wait_until(lambda: sum(received()) == 6, 30)
        expected = [0] * PARTITIONS
        for n in range(6):
            expected[partition_of(f"s{n}", PARTITIONS)] += 1
        assert received() == expected
    finally:
        running.stop()


# -- copies counted once (docs/stream.md, "Delivery and duplicates") -----------------------


def test_a_publish_retried_after_its_ack_was_lost_is_stored_once(nats_cluster) -> None:
    """The first attempt reaches the stream but its ack is lost (a timeout); the retry
    carries the same Nats-Msg-Id, so JetStream keeps one copy."""
    import nats.errors

    from tally.stream.partitions import STREAM, stream_config

    link = Link(nats_cluster.url, name="sensor").start()
    js = link.context()
    stored, attempts = js.publish, []

    async def ack_lost_once(*args, **kwargs):
        attempts.append(kwargs["headers"]["Nats-Msg-Id"])
        answer = await stored(*args, **kwargs)
        if len(attempts) == 1:
            raise nats.errors.TimeoutError
        return answer

    try:
        link.call(link.ensure_stream(stream_config(3)), timeout=60)
        js.publish = ack_lost_once
        event = Event("sensors", "s1", time.time(), {"v": 1.0})
        link.call(publish_events(link, [event], PARTITIONS), timeout=30)
        del js.publish
        info = link.call(js.stream_info(STREAM), timeout=10)
    finally:
        link.close()
    assert len(attempts) == 2 and attempts[0] == attempts[1]
    assert info.state.messages == 1


def test_an_event_id_sent_twice_counts_once_also_after_a_take_over(
    nats_cluster, tmp_path: Path
) -> None:
    """A client resends an event (same id) through the sink; the partition's engine keeps its
    ids in the JetStream checkpoint, so the engine that takes the partition over drops the
    next copy too."""
    publisher = Link(nats_cluster.url, name="sensor").start()
    settings = stream_settings({"state_dir": str(tmp_path / "sink")})
    sink = JetStreamSink(publisher, settings, PARTITIONS)
    event = Event("sensors", "s1", time.time(), {"v": 1.0}, id="reading-1")
    partition = partition_of("s1", PARTITIONS)
    first, _ = engine(nats_cluster.url, tmp_path, "a", lease=10.0)
    try:
        wait_until(lambda: len(first.owned()) == PARTITIONS, 30)
        sink.ingest([event])
        sink.ingest([event])
        owner = first.engine(partition)
        wait_until(lambda: owner.received + sum(owner.duplicates.values()) == 2, 30)
        assert (owner.received, owner.duplicates) == (1, {"event_id": 1})
        first.stop()  # checkpoints and hands its partitions back
        second, _ = engine(nats_cluster.url, tmp_path, "b", lease=10.0)
        try:
            wait_until(lambda: partition in second.owned(), 30)
            sink.ingest([event])
            taker = second.engine(partition)
            wait_until(lambda: sum(taker.duplicates.values()) == 2, 30)
            assert taker.received == 1  # restored, and the copy not counted
        finally:
            second.stop()
    finally:
        first.stop()  # a second stop does nothing
        publisher.close()
