"""MQTT input: subscribe to topics on a broker and feed JSON payloads to the engine.

paho-mqtt 2 runs its own network thread (``loop_start``) and reconnects by itself with a
growing delay; on every (re)connect we subscribe again, because a broker may have lost our
session. A payload is one event or a batch (array or ``{"events": [...]}``); when it has
no key, the key is a segment of the topic (``sensors/<key>`` by default).
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import uuid
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from tally.stream.engine import Engine
from tally.stream.events import parse_batch
from tally.stream.settings import MqttSettings

log = logging.getLogger(__name__)


class MqttInput:
    def __init__(self, engine: Engine, settings: MqttSettings) -> None:
        self.engine = engine
        self.settings = settings
        address = urlparse(settings.url or "mqtt://127.0.0.1:1883")
        self.host = address.hostname or "127.0.0.1"
        self.port = address.port or 1883
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=settings.client_id or f"tally-stream-{uuid.uuid4().hex[:8]}",
        )
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password or None)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.subscribed = threading.Event()
        self.messages = 0
        self.rejected = 0
        self.connects = 0
        self.errors: collections.deque[str] = collections.deque(maxlen=100)

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _data: Any, _flags: Any, code: Any, _p: Any) -> None:
        if code.is_failure:
            log.warning("MQTT broker %s:%s refused the connection: %s", self.host, self.port, code)
            return
        self.connects += 1
        client.subscribe([(topic, self.settings.qos) for topic in self.settings.topics])

    def _on_subscribe(self, _c: mqtt.Client, _d: Any, _mid: int, _codes: Any, _p: Any) -> None:
        self.subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _d: Any, _f: Any, code: Any, _p: Any) -> None:
        self.subscribed.clear()
        if code.is_failure:
            log.warning("MQTT connection lost (%s); paho reconnects by itself", code)

    def _on_message(self, _client: mqtt.Client, _data: Any, message: mqtt.MQTTMessage) -> None:
        self.messages += 1
        where = f"mqtt topic {message.topic}"
        try:
            body = json.loads(message.payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            self._reject(1, [f"{where}: payload is not JSON: {error}"])
            return
        events, errors = parse_batch(
            body,
            where=where,
            now=self.engine.clock(),
            default_source=self.settings.source,
            default_key=self._key(message.topic),
        )
        if errors:
            self._reject(len(errors), errors)
        if events:
            self.engine.ingest(events)

    def _key(self, topic: str) -> str:
        if self.settings.key_from_topic is None:
            return ""
        parts = topic.split("/")
        try:
            return parts[self.settings.key_from_topic]
        except IndexError:
            return ""

    def _reject(self, count: int, errors: list[str]) -> None:
        self.rejected += count
        self.engine.reject(count)
        self.errors.extend(errors)
        log.warning("rejected %d MQTT event(s): %s", count, errors[0])
