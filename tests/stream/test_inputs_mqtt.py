"""Sensors publish readings to the local Mosquitto; the engine's clock is moved by hand.

Each publish waits until the engine has received the message (a broker round trip), then
the test sets the clock and evaluates: no timed assertions, no sleeps for the rules.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import pytest

from tally.stream.alerts import InhibitRule, Matcher, Silence
from tally.stream.engine import Engine
from tally.stream.inputs_mqtt import MqttInput
from tally.stream.rules import parse_rules
from tally.stream.settings import stream_settings

pytestmark = pytest.mark.services

RULES = [
    {
        "name": "hot",
        "type": "threshold",
        "source": "sensors",
        "field": "temperature",
        "aggregate": "mean",
        "window": {"size": "1s"},
        "op": ">",
        "value": 30,
        "for": "10s",
        "labels": {"severity": "warning"},
    },
    {
        "name": "dead",
        "type": "absence",
        "source": "sensors",
        "seconds": "30s",
        "labels": {"severity": "critical"},
    },
]


class Rig:
    """An engine with its MQTT input, a publisher, a fake clock and a recording receiver."""

    def __init__(self, url: str, state_dir: Path, clock, receiver, rules: list[dict]) -> None:
        self.url = url
        self.prefix = f"tally-test-{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.receiver = receiver
        self.settings = stream_settings(
            {
                "state_dir": str(state_dir),
                "route": {"receivers": ["ops"], "group_wait": 0, "group_interval": 1},
                "mqtt": {
                    "url": url,
                    "topics": [f"{self.prefix}/sensors/+"],
                    "client_id": f"{self.prefix}-engine",  # its own persistent session
                },
                "inhibit_rules": [],
                "lake": {"enabled": False},
            }
        )
        self.rules = parse_rules(rules)
        address = urlparse(url)
        self.publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.publisher.connect(address.hostname, address.port)
        self.publisher.loop_start()
        self.engine = self.input = None
        self.boot()

    def boot(self) -> None:
        self.engine = Engine(
            self.settings, self.rules, clock=self.clock, notifiers={"ops": self.receiver}
        )
        self.engine.restore()
        self.input = MqttInput(self.engine, self.settings.mqtt)
        self.input.start()
        assert self.input.subscribed.wait(10), "no SUBACK from the broker"

    def shutdown(self) -> None:
        self.input.stop()
        self.engine.stop()

    def forget_session(self) -> None:
        """A clean-session connect under the engine's client id ends its persistent session,
        so the broker keeps nothing for it after the test."""
        address = urlparse(self.url)
        cleaner = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.settings.mqtt.client_id
        )
        cleaner.connect(address.hostname, address.port)
        cleaner.disconnect()

    def wait_for(self, condition, what: str) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.005)

    def send_raw(self, sensor: str, payload: bytes) -> None:
        self.publisher.publish(f"{self.prefix}/sensors/{sensor}", payload, 1).wait_for_publish(5)

    def hot_until_firing(self, sensor: str) -> int:
        """Hot readings each second until hot/<sensor> fires; returns how many it took."""
        for count in range(1, 20):
            self.step({sensor: 45.0})
            alert = self.engine.book.alerts.get(f"hot/{sensor}")
            if alert is not None and alert.state == "firing":
                return count
        raise AssertionError(f"hot/{sensor} never fired")

    def publish(self, readings: dict[str, float]) -> None:
        """One reading per sensor at the clock's time; returns once the engine has them."""
        expected = self.engine.received + len(readings)
        for sensor, value in readings.items():
            body = {"time": self.clock.now, "values": {"temperature": value}}
            info = self.publisher.publish(f"{self.prefix}/sensors/{sensor}", json.dumps(body), 1)
            info.wait_for_publish(5)
        deadline = time.monotonic() + 10
        while self.engine.received < expected:
            assert time.monotonic() < deadline, "broker did not deliver the readings"
            time.sleep(0.002)

    def step(self, readings: dict[str, float], seconds: float = 1) -> list[dict]:
        self.clock.advance(seconds)
        self.publish(readings)
        return self.engine.tick()


def running_rig(
    mqtt_url: str, state: Path, clock, recorder, rules: list[dict[str, Any]]
) -> Iterator[Rig]:
    """A rig for one test, its engine stopped and its broker session forgotten after."""
    made = Rig(mqtt_url, state, clock, recorder, rules)
    yield made
    made.shutdown()
    # Disconnect first: paho's loop thread then ends at once instead of at its 1 s select.
    made.publisher.disconnect()
    made.publisher.loop_stop()
    made.forget_session()


@pytest.fixture
def rig(mqtt_url: str, tmp_path: Path, clock, recorder) -> Iterator[Rig]:
    yield from running_rig(mqtt_url, tmp_path / "state", clock, recorder, RULES)


def test_threshold_for_10s_fires_once_after_10s_and_resolves(rig: Rig) -> None:
    rig.step({"s1": 35.0})
    started = rig.clock.now
    # the window [t, t+1) closes when the next reading arrives: the condition holds from t+1
    timeline = []
    for _ in range(15):
        sent = rig.step({"s1": 35.0})
        timeline.append((rig.clock.now - started, rig.engine.book.alerts["hot/s1"].state, sent))
    pending = [t for t, state, _ in timeline if state == "pending"]
    firing = [(t, s) for t, state, s in timeline if state == "firing"]
    assert pending == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]  # held 0 .. 9 s: not yet
    assert firing[0][0] == 11  # held 10 s since t+1
    notified = [s for _, _, sent in timeline for s in sent]
    assert len(notified) == 1 and notified[0]["alerts"][0]["labels"]["key"] == "s1"
    # cool down: the first cool window closes with the next reading and resolves the alert
    rig.step({"s1": 20.0})
    resolved = rig.step({"s1": 20.0})
    assert rig.engine.book.alerts["hot/s1"].state == "resolved"
    assert [n["status"] for n in resolved] == ["resolved"]
    assert len(rig.receiver.sent) == 2


def test_absence_fires_when_a_sensor_goes_quiet(rig: Rig) -> None:
    rig.step({"s1": 20.0, "s2": 20.0})
    for _ in range(29):
        rig.step({"s1": 20.0})  # s2 says nothing more
    assert (
        "dead/s2" not in rig.engine.book.alerts
        or rig.engine.book.alerts["dead/s2"].state != "firing"
    )
    sent = rig.step({"s1": 20.0})  # s2 quiet for 30 s
    assert [a["labels"]["key"] for n in sent for a in n["alerts"]] == ["s2"]
    assert rig.engine.book.alerts["dead/s2"].state == "firing"


def test_grouping_sends_one_notification_for_many_sensors(rig: Rig) -> None:
    sensors = {f"s{i}": 45.0 for i in range(8)}
    rig.settings.route.group_wait = 5
    notifications = [n for _ in range(20) for n in rig.step(sensors)]
    assert len(notifications) == 1
    assert sorted(a["labels"]["key"] for a in notifications[0]["alerts"]) == sorted(sensors)


def test_silence_suppresses_matching_sensors(rig: Rig) -> None:
    rig.engine.add_silence(
        Silence(
            matchers=[Matcher.parse("key=~s[01]")],
            starts_at=rig.clock.now,
            ends_at=rig.clock.now + 3600,
            comment="maintenance",
        )
    )
    sent = [n for _ in range(15) for n in rig.step({"s0": 45.0, "s1": 45.0, "s2": 45.0})]
    keys = [a["labels"]["key"] for n in sent for a in n["alerts"]]
    assert keys == ["s2"]
    assert rig.engine.book.alerts["hot/s0"].state == "firing"  # still listed, just not sent


def test_inhibition_mutes_hot_while_the_sensor_is_dead(rig: Rig) -> None:
    rig.engine.book.inhibit_rules = [
        InhibitRule(
            source_match={"alertname": "dead"}, target_match={"alertname": "hot"}, equal=["key"]
        )
    ]
    rig.step({"s1": 45.0, "s2": 45.0})
    for _ in range(30):
        rig.step({"s2": 45.0})  # s1 stops after one hot reading
    hot_s1 = rig.engine.book.alerts["hot/s1"]
    assert hot_s1.state == "firing" and rig.engine.book.muted(hot_s1, rig.clock.now) == "inhibited"
    sent = {a["fingerprint"] for n in rig.receiver.sent for a in n["alerts"]}
    assert "hot/s2" in sent and "dead/s1" in sent
    # hot/s1 fired at 12 s, before s1 was dead (30 s): it was sent once, then muted;
    # its repeat is not sent while inhibited
    rig.clock.advance(4 * 3600)
    rig.publish({"s2": 45.0})
    repeat = {a["fingerprint"] for n in rig.engine.tick() for a in n["alerts"]}
    assert "hot/s1" not in repeat and "hot/s2" in repeat


def test_restart_mid_alert_sends_no_duplicate(rig: Rig) -> None:
    for _ in range(13):
        rig.step({"s1": 45.0})
    assert len(rig.receiver.sent) == 1
    rig.shutdown()  # checkpoints on the way out
    rig.boot()  # a new engine and MQTT client from the checkpoint
    assert rig.engine.book.alerts["hot/s1"].state == "firing"
    for _ in range(5):
        rig.step({"s1": 45.0})
    assert len(rig.receiver.sent) == 1
    rig.step({"s1": 10.0})
    rig.step({"s1": 10.0})
    assert [n["status"] for n in rig.receiver.sent] == ["firing", "resolved"]


def test_bad_payloads_are_counted_and_named(rig: Rig) -> None:
    rig.publisher.publish(f"{rig.prefix}/sensors/s9", b"not json", 1).wait_for_publish(5)
    rig.publisher.publish(
        f"{rig.prefix}/sensors/s9", json.dumps({"values": {"temperature": "hot"}}), 1
    ).wait_for_publish(5)
    rig.publish({"s1": 20.0})  # in-order delivery: once this arrives, so have the bad ones
    assert rig.input.rejected == 2
    assert "values.temperature" in rig.input.errors[-1]
    assert f"{rig.prefix}/sensors/s9" in rig.input.errors[0]


def test_the_input_reconnects_and_resubscribes_by_itself(rig: Rig) -> None:
    rig.step({"s1": 20.0})
    # QoS 1 is at least once: dropped before our PUBACK for that reading has left (seen
    # under load), the persistent session has the broker deliver it again, with DUP; the
    # input drops that copy, so the count is the same whether the ack had left or not
    rig.input.subscribed.clear()
    rig.input.client.socket().shutdown(socket.SHUT_RDWR)  # the connection drops under paho
    # paho waits its reconnect delay (1 s), connects, and our on_connect subscribes again
    assert rig.input.subscribed.wait(15), "no resubscription after the connection dropped"
    assert rig.input.connects == 2
    rig.step({"s1": 21.0})  # a reading published after the reconnect arrives
    assert rig.engine.received == 2 and rig.input.duplicates in (0, 1)


# -- inputs that cannot be poisoned (issue 24) ---------------------------------------------
# In each test the `hot` rule (mean > 30 for 10 s, 1 s windows) must still fire after the
# hostile input, as it does on a fresh engine: the first hot window closes one reading
# later, then 10 s must pass, so it fires on the 12th reading (11 s after the first).


def test_a_far_future_event_is_refused_and_the_rule_still_fires(rig: Rig) -> None:
    rig.step({"s1": 20.0})
    rig.send_raw("s1", json.dumps({"time": 1e30, "values": {"temperature": 99.0}}).encode())
    rig.wait_for(lambda: rig.engine.rejected_by_kind["time_ahead"] == 1, "not refused")
    assert "field 'time'" in rig.input.errors[-1] and "ahead" in rig.input.errors[-1]
    store = rig.engine.rules["hot"].store
    assert store.watermark <= rig.clock.now  # it never saw the event
    # the watermark survives a restart unpoisoned, and readings keep closing windows
    rig.shutdown()
    rig.boot()
    assert rig.engine.rules["hot"].store.watermark <= rig.clock.now
    assert rig.hot_until_firing("s1") == 12


def test_a_poisoned_checkpoint_is_repaired_on_load(rig: Rig) -> None:
    rig.step({"s1": 20.0})
    rig.shutdown()
    # what an engine without the time check saved after {"time": 1e30} (ms → 1e27 s)
    windows = json.loads((rig.engine.windows_path).read_text())
    hot = windows["rules"]["hot"]
    hot["store"]["watermark"] = 1e27
    hot["store"]["slots"].append(["s1", 1e27, 1e27 + 1, False, False, hot["store"]["slots"][0][5]])
    hot["latest"]["s1"] = [1e27 + 1, 99.0]
    rig.engine.windows_path.write_text(json.dumps(windows))
    rig.boot()
    store = rig.engine.rules["hot"].store
    assert store.watermark <= rig.clock.now and all(
        b[0] < 1e27 for w in store.slots.values() for b in w
    )
    assert "s1" not in rig.engine.rules["hot"].latest
    assert rig.hot_until_firing("s1") == 12


def test_a_deeply_nested_payload_is_refused_and_the_input_keeps_listening(rig: Rig) -> None:
    rig.step({"s1": 20.0})
    # 100,000 nested arrays: json.loads would raise RecursionError in paho's thread
    rig.send_raw("s1", b"[" * 100_000 + b"]" * 100_000)
    rig.send_raw("s1", b"0" * (rig.settings.inputs.max_payload_bytes + 1))
    rig.wait_for(lambda: rig.engine.rejected == 2, "payloads not refused")
    assert rig.engine.rejected_by_kind == {"payload_too_deep": 1, "payload_too_large": 1}
    assert "100000 levels deep, over the limit of 32" in rig.input.errors[0]
    assert rig.input.alive()
    assert rig.hot_until_firing("s1") == 12


def test_messages_published_while_the_engine_is_down_arrive_after_it_starts(rig: Rig) -> None:
    rig.step({"s1": 20.0})
    rig.shutdown()  # the broker keeps the session: fixed client id, clean_session false
    for _ in range(12):  # the engine is down: these go to the broker only
        rig.clock.advance(1)
        body = {"time": rig.clock.now, "values": {"temperature": 45.0}}
        rig.send_raw("s1", json.dumps(body).encode())
    rig.boot()  # 1 reading before the stop, restored from the checkpoint, + 12 queued
    rig.wait_for(lambda: rig.engine.received == 13, "queued messages not delivered")
    rig.engine.tick()
    # the windows of the twelve hot readings from downtime closed: mean 45 > 30 holds now;
    # `for` counts on the engine's clock, from this first evaluation after the start
    assert rig.engine.book.alerts["hot/s1"].state == "pending"
    assert rig.engine.rules["hot"].latest["s1"][1] == 45.0
    rig.clock.advance(10)  # no reading after the start: what fires is the downtime's
    rig.engine.tick()
    assert rig.engine.book.alerts["hot/s1"].state == "firing"
    assert [n["status"] for n in rig.receiver.sent] == ["firing"]


def test_a_message_handled_while_the_engine_stops_is_not_delivered_again(rig: Rig) -> None:
    rig.step({"s1": 20.0})  # received 1
    handle, handled = rig.input._handle, threading.Event()

    def slow(message, where):
        handle(message, where)  # the engine has it (received 2) ...
        handled.set()
        time.sleep(0.3)  # ... and the stop comes before our callback returns

    rig.input._handle = slow
    rig.send_raw(
        "s1", json.dumps({"time": rig.clock.now, "values": {"temperature": 21.0}}).encode()
    )
    assert handled.wait(10)
    rig.shutdown()  # waits for that message's ack: the checkpoint counts it, the broker forgot it
    rig.boot()
    assert rig.engine.received == 2
    seen: list[str] = []
    handle = rig.input._handle
    rig.input._handle = lambda message, where: (seen.append(message.topic), handle(message, where))
    rig.send_raw(
        "s2", json.dumps({"time": rig.clock.now, "values": {"temperature": 22.0}}).encode()
    )
    # a resent message comes before the new one on a session: once s2 is here, all are
    rig.wait_for(lambda: rig.engine.received >= 3 and seen, "the new message did not arrive")
    assert seen == [f"{rig.prefix}/sensors/s2"]
    assert rig.engine.received == 3  # 2 restored + s2; the s1 reading was not resent


class Crash(BaseException):
    """Stands for a failure no handler catches (paho's thread ends with it)."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_input_that_dies_is_restarted_and_alerts_on_itself(rig: Rig) -> None:
    rig.engine.inputs.append(rig.input)
    handle, crashes = rig.input._handle, []

    def crash_once(message, where):
        if not crashes:
            crashes.append(message.topic)
            raise Crash
        handle(message, where)

    rig.input._handle = crash_once
    rig.send_raw("s1", json.dumps({"values": {"temperature": 20.0}}).encode())
    rig.wait_for(lambda: not rig.input.alive(), "the thread did not die")
    rig.input.subscribed.clear()
    sent = rig.engine.tick()  # sees the dead input, starts it again and alerts
    assert rig.engine.input_restarts == {"mqtt": 1}
    alert = rig.engine.book.alerts["tally_stream_input_down/mqtt"]
    assert alert.state == "firing" and alert.labels["severity"] == "critical"
    assert [a["labels"]["alertname"] for n in sent for a in n["alerts"]] == [
        "tally_stream_input_down"
    ]
    assert rig.input.subscribed.wait(10) and rig.input.alive()
    # the message it died on was never acknowledged: the broker delivers it again
    rig.wait_for(lambda: rig.engine.received == 1, "the unacknowledged message was lost")
    assert rig.hot_until_firing("s1") == 12
    rig.clock.advance(600)  # ten minutes without another death: resolved
    rig.engine.tick()
    assert rig.engine.book.alerts["tally_stream_input_down/mqtt"].state == "resolved"


# -- redeliveries counted once (docs/stream.md, "Delivery and duplicates") -----------------
# A rule counting readings per minute: one reading counted twice would read 2 and fire.

COUNTING = [
    {
        "name": "twice",
        "type": "threshold",
        "source": "sensors",
        "aggregate": "count",
        "window": {"size": "60s"},
        "op": ">=",
        "value": 2,
    }
]


@pytest.fixture
def counting_rig(mqtt_url: str, tmp_path: Path, clock, recorder) -> Iterator[Rig]:
    yield from running_rig(mqtt_url, tmp_path / "state", clock, recorder, COUNTING)


def counted(rig: Rig, sensor: str) -> int:
    """Readings in the sensor's open count windows."""
    windows = rig.engine.rules["twice"].store.slots.get(sensor, {})
    return sum(slot.accumulator.count for slot in windows.values())


def hold_acks(rig: Rig) -> list[int]:
    """Our PUBACKs are kept back (their message ids listed): the broker still has the
    messages in flight, as when the connection drops before the ack leaves."""
    held: list[int] = []
    rig.input.client.ack = lambda mid, qos: held.append(mid)
    return held


def record_dup_flags(rig: Rig) -> list[bool]:
    """The DUP flag of every message the input is handed, in order."""
    flags: list[bool] = []
    handle = rig.input._handle
    rig.input._handle = lambda message, where: (flags.append(message.dup), handle(message, where))
    return flags


def test_a_message_redelivered_after_a_dropped_connection_is_counted_once(
    counting_rig: Rig,
) -> None:
    rig = counting_rig
    held, flags = hold_acks(rig), record_dup_flags(rig)
    rig.clock.advance(1)
    rig.publish({"s1": 20.0})  # the engine has it; its PUBACK never leaves
    assert held and counted(rig, "s1") == 1
    del rig.input.client.ack  # acks go out again, on the next connection
    rig.input.subscribed.clear()
    rig.input.client.socket().shutdown(socket.SHUT_RDWR)  # the connection drops under paho
    assert rig.input.subscribed.wait(15), "no resubscription after the connection dropped"
    rig.wait_for(lambda: len(flags) == 2, "the broker did not deliver the reading again")
    assert flags == [False, True]  # Mosquitto resent it, marked as a redelivery
    assert rig.engine.received == 1 and rig.input.duplicates == 1
    assert rig.engine.stats()["duplicates_by_kind"] == {"redelivery": 1}
    assert counted(rig, "s1") == 1
    rig.clock.advance(60)
    rig.publish({"s2": 20.0})  # closes s1's minute: one reading, nothing fires
    rig.engine.tick()
    assert "twice/s1" not in rig.engine.book.alerts


def test_a_redelivery_after_a_restart_is_dropped_when_the_checkpoint_counted_it(
    counting_rig: Rig,
) -> None:
    rig = counting_rig
    held = hold_acks(rig)
    rig.clock.advance(1)
    rig.publish({"s1": 20.0})
    assert held
    rig.shutdown()  # the checkpoint counts the reading; the broker still waits for its ack
    rig.boot()  # restored: received 1, the reading in its window and in the memory
    rig.wait_for(lambda: rig.input.messages == 1, "the broker did not deliver it again")
    assert rig.input.duplicates == 1
    assert rig.engine.received == 1 and counted(rig, "s1") == 1


def test_the_same_payload_published_twice_counts_twice(counting_rig: Rig) -> None:
    rig = counting_rig
    payload = json.dumps({"time": rig.clock.now, "values": {"temperature": 20.0}}).encode()
    rig.send_raw("s1", payload)
    rig.send_raw("s1", payload)  # two equal readings: two events, no DUP flag
    rig.wait_for(lambda: rig.engine.received == 2, "the readings did not arrive")
    assert counted(rig, "s1") == 2 and rig.input.duplicates == 0
    assert rig.engine.stats()["duplicates"] == 0


def test_an_event_id_published_twice_counts_once(counting_rig: Rig) -> None:
    rig = counting_rig
    body = {"time": rig.clock.now, "event_id": "reading-1", "values": {"temperature": 20.0}}
    rig.send_raw("s1", json.dumps(body).encode())
    rig.send_raw("s1", json.dumps(body).encode())  # the sensor resent it (its own retry)
    rig.send_raw("s2", json.dumps({"time": rig.clock.now}).encode())
    rig.wait_for(lambda: rig.engine.received == 2, "the readings did not arrive")
    assert counted(rig, "s1") == 1
    assert rig.engine.stats()["duplicates_by_kind"] == {"event_id": 1}


def test_a_dup_is_dropped_only_with_the_packet_id_it_was_accepted_under(
    tmp_path: Path, clock
) -> None:
    """No broker: messages handed to the input as paho would. A redelivery keeps its packet
    id; a DUP with another id is a message that never reached us before (its first sending
    was lost with the connection), even when an earlier reading had the same bytes."""
    settings = stream_settings({"state_dir": str(tmp_path), "lake": {"enabled": False}})
    engine = Engine(settings, parse_rules(COUNTING), clock=clock)
    source = MqttInput(engine, settings.mqtt)

    def deliver(packet_id: int, dup: bool, qos: int = 1) -> None:
        message = mqtt.MQTTMessage(mid=packet_id, topic=b"sensors/s1")
        message.payload = json.dumps({"time": clock.now, "values": {"t": 20.0}}).encode()
        message.dup, message.qos = dup, qos
        source._handle(message, "mqtt topic sensors/s1")

    deliver(5, dup=False)
    deliver(6, dup=True)  # the same reading again, sent once before but lost: counts
    deliver(5, dup=True)  # packet 5 again: the broker never had our ack
    assert (engine.received, source.duplicates) == (2, 1)
    deliver(0, dup=False, qos=0)  # QoS 0: counted, never remembered
    assert engine.received == 3 and len(engine.recent) == 2
