"""Sensors publish readings to the local Mosquitto; the engine's clock is moved by hand.

Each publish waits until the engine has received the message (a broker round trip), then
the test sets the clock and evaluates: no timed assertions, no sleeps for the rules.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
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
                "mqtt": {"url": url, "topics": [f"{self.prefix}/sensors/+"]},
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


@pytest.fixture
def rig(mqtt_url: str, tmp_path: Path, clock, recorder) -> Iterator[Rig]:
    made = Rig(mqtt_url, tmp_path / "state", clock, recorder, RULES)
    yield made
    made.shutdown()
    # Disconnect first: paho's loop thread then ends at once instead of at its 1 s select.
    made.publisher.disconnect()
    made.publisher.loop_stop()


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
    rig.input.subscribed.clear()
    rig.input.client.socket().shutdown(socket.SHUT_RDWR)  # the connection drops under paho
    # paho waits its reconnect delay (1 s), connects, and our on_connect subscribes again
    assert rig.input.subscribed.wait(15), "no resubscription after the connection dropped"
    assert rig.input.connects == 2
    rig.step({"s1": 21.0})  # a reading published after the reconnect arrives
    assert rig.engine.received == 2
