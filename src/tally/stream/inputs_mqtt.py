"""MQTT input: subscribe to topics on a broker and feed JSON payloads to the engine.

paho-mqtt 2's network loop runs on a thread of ours (``loop_forever``, which reconnects by
itself with a growing delay), so the engine can see when it has died and start it again
(``alive``). The session is persistent: a fixed client id and ``clean_session`` false, with
QoS 1 subscriptions, so the broker keeps what is published while the engine is down and
delivers it on the next connect. On every (re)connect we subscribe again, because a broker
may have lost our session. A message is acknowledged by us (paho's manual ack), after the
engine has it and under a lock that ``stop`` takes too: paho's own ack would go out after our
callback returns, so a stop in between disconnected first and the broker delivered the message
again to the next engine, which had it already from the checkpoint.

QoS 1 is still at least once: when the connection drops after the engine took a message but
before our PUBACK reached the broker, the broker sends it again on the next connect with the
DUP flag and its original packet id. A DUP message whose packet id, topic and payload the
engine accepted lately (``Engine.is_redelivery``) is acknowledged and dropped, counted as a
duplicate. The same payload without DUP is a new message (two equal readings are two
readings) and counts.

A payload is refused before it is parsed when it is over the size or nesting limits
(``stream.inputs``); an exception in our handler is caught there, since one escaping into
paho's loop would end it and leave the message unacknowledged, to be redelivered (and fail
again) on every reconnect. A payload is one event or a batch
(array or ``{"events": [...]}``); when it has no key, the key is a segment of the topic
(``sensors/<key>`` by default).
"""

from __future__ import annotations

import collections
import logging
import socket
import threading
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tally.stream.dedupe import delivery_digest
from tally.stream.engine import Engine
from tally.stream.events import Event, RejectedInput, decode_payload, parse_batch
from tally.stream.settings import MqttSettings

log = logging.getLogger(__name__)


def default_client_id() -> str:
    """One session per machine unless stream.mqtt.client_id says otherwise."""
    return f"tally-stream-{socket.gethostname()}"[:64]


class MqttInput:
    name = "mqtt"

    def __init__(self, engine: Engine, settings: MqttSettings) -> None:
        self.engine = engine
        self.settings = settings
        address = urlparse(settings.url or "mqtt://127.0.0.1:1883")
        self.host = address.hostname or "127.0.0.1"
        self.port = address.port or 1883
        self.client_id = settings.client_id or default_client_id()
        self.subscribed = threading.Event()
        self.messages = 0
        self.rejected = 0
        self.duplicates = 0  # redeliveries of messages the engine had
        self.connects = 0
        self.errors: collections.deque[str] = collections.deque(maxlen=100)
        self._running = False
        self._thread: threading.Thread | None = None
        self._handling = threading.Lock()  # a message's handling and its ack, or the stop
        self.client = self._client()

    def _client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=not self.settings.persistent,
            manual_ack=True,
        )
        if self.settings.username:
            client.username_pw_set(
                self.settings.username,
                self.settings.password.get_secret_value() if self.settings.password else None,
            )
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        return client

    def start(self) -> None:
        """Connect and run the network loop on a thread; after a death, with a new client
        (the old one's state is unknown) on the same persistent session."""
        if self._thread is not None:
            self.client = self._client()
        self._running = True
        self.client.connect_async(self.host, self.port, keepalive=30)
        self._thread = threading.Thread(
            target=self.client.loop_forever,
            kwargs={"retry_first_connection": True},
            name="tally-stream-mqtt",
            daemon=True,
        )
        self._thread.start()

    def alive(self) -> bool:
        """False when the input should run but its thread has ended."""
        return not self._running or (self._thread is not None and self._thread.is_alive())

    def stop(self) -> None:
        with self._handling:  # the message being handled is acknowledged before we leave
            self._running = False
            self.client.disconnect()  # loop_forever returns after a clean disconnect
        if self._thread is not None:
            self._thread.join(timeout=10)

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

    def _on_message(self, client: mqtt.Client, _data: Any, message: mqtt.MQTTMessage) -> None:
        with self._handling:
            if not self._running:
                return  # stopping: not acknowledged, so the broker keeps it for the next start
            self.messages += 1
            where = f"mqtt topic {message.topic}"
            try:
                self._handle(message, where)
            except Exception as error:  # noqa: BLE001 - see the module docstring
                log.exception("MQTT message on %s could not be handled", message.topic)
                self._reject(1, [f"{where}: could not be handled: {error!r}"], "internal")
            # a BaseException (the thread dies) skips this: the message comes again
            client.ack(message.mid, message.qos)

    def _handle(self, message: mqtt.MQTTMessage, where: str) -> None:
        """Feed a message's events to the engine, remembering the message with them, unless
        it is a redelivery of one the engine accepted already."""
        payload = bytes(message.payload)
        # a QoS 0 message is never delivered again: nothing to remember
        delivery = delivery_digest(message.mid, message.topic, payload) if message.qos else None
        if delivery is not None and message.dup and self.engine.is_redelivery(delivery):
            self.duplicates += 1
            log.info("MQTT message on %s delivered again (DUP); counted once", message.topic)
            return
        events = self._read(message.topic, payload, where)
        if events:
            self.engine.ingest(events, delivery)
        elif delivery is not None:
            self.engine.remember_delivery(delivery)  # all refused: refused once, not again

    def _read(self, topic: str, payload: bytes, where: str) -> list[Event]:
        """The payload's events that pass the engine's screening; the others are refused."""
        limits = self.engine.settings.inputs
        try:
            body = decode_payload(payload, limits.max_payload_bytes, limits.max_depth, where)
        except RejectedInput as error:
            self._reject(1, [str(error)], error.kind)
            return []
        events, errors = parse_batch(
            body,
            where=where,
            now=self.engine.clock(),
            default_source=self.settings.source,
            default_key=self._key(topic),
            id_field=self.engine.settings.dedupe.field,
        )
        if errors:
            self._reject(len(errors), errors, "invalid")
        events, refused = self.engine.screen(events)
        if refused:
            self.rejected += len(refused)
            self.errors.extend(refused)
            log.warning("rejected %d MQTT event(s): %s", len(refused), refused[0])
        return events

    def _key(self, topic: str) -> str:
        if self.settings.key_from_topic is None:
            return ""
        parts = topic.split("/")
        try:
            return parts[self.settings.key_from_topic]
        except IndexError:
            return ""

    def _reject(self, count: int, errors: list[str], kind: str) -> None:
        self.rejected += count
        self.engine.reject(count, kind)
        self.errors.extend(errors)
        log.warning("rejected %d MQTT event(s): %s", count, errors[0])
