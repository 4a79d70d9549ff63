"""Partitioned stream engines as real ``tally stream`` processes on a NATS cluster, a webhook
that records what each of them notifies, and readers of the engines' JetStream buckets.

Used by tests/stream/test_partitions_kill.py (kill -9 of the engine owning a firing alert)
and by benchmarks/nats_bench.py (take-over time). Each engine's receiver posts to its own
path of one recording webhook (``/<engine name>``), so who sent a notification is known.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.web.jetstream_flood import Process

from tally.jetstream import Link
from tally.stream.events import Event
from tally.stream.partitions import OWNERS, STATE, publish_events

TALLY = str(Path(sys.executable).parent / "tally")

RULES_TOML = """\
[[rules]]
name = "hot"
type = "threshold"
source = "sensors"
field = "v"
aggregate = "max"
window = { size = 1, lateness = 0 }
op = ">"
value = 50
"""


@dataclass
class Received:
    path: str  # "/<engine name>"
    at: float  # time.monotonic() when it arrived
    body: dict[str, Any]


class Webhook:
    """An HTTP receiver on a free loopback port keeping every POSTed notification."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                size = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(size) or b"{}")
                outer.received.append(Received(self.path, time.monotonic(), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Webhook:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def statuses(self, name: str) -> list[str]:
        return [r.body["status"] for r in self.received if r.path == f"/{name}"]


@dataclass
class EngineCluster:
    """``tally stream`` processes sharing ``partitions`` through the cluster at ``url``."""

    directory: Path
    url: str
    webhook: Webhook
    partitions: int = 4
    lease_seconds: float = 3.0
    replicas: int = 3
    engines: dict[str, Process] = field(default_factory=dict)
    link: Link | None = None

    def start(self, *names: str) -> EngineCluster:
        rules = self.directory / "rules.toml"
        rules.write_text(RULES_TOML)
        for name in names:
            self.engines[name] = self._engine(name, rules).start()
        self.link = Link(self.url, name="engine-cluster-test").start()
        return self

    def _engine(self, name: str, rules: Path) -> Process:
        folder = self.directory / name
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "tally.toml"
        config.write_text(
            f"""\
data_dir = "{folder}"
[stream]
rules_file = "{rules}"
builtin_rules = false
state_dir = "{folder / "stream"}"
receivers = [{{ name = "ops", type = "webhook", url = "{self.webhook.url}/{name}" }}]
route = {{ receivers = ["ops"], group_wait = 0, group_interval = 0 }}
[stream.jetstream]
url = "{self.url}"
partitions = {self.partitions}
lease_seconds = {self.lease_seconds}
replicas = {self.replicas}
"""
        )
        environment = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
        environment["TALLY_CONFIG"] = str(config)
        command = [TALLY, "stream", "--status-every", "1"]
        return Process(name, command, environment, folder / "engine.log")

    def stop(self) -> None:
        for process in self.engines.values():
            process.stop()
        if self.link is not None:
            self.link.close()

    # -- what JetStream says -------------------------------------------------------------

    def owners(self) -> dict[int, str]:
        """Partition → the member id holding its lease (only partitions held)."""
        return self._call(self._owners())

    async def _owners(self) -> dict[int, str]:
        assert self.link is not None
        bucket = await self.link.bucket(OWNERS, ttl=self.lease_seconds, replicas=self.replicas)
        held = {}
        for partition in range(self.partitions):
            try:
                entry = await bucket.get(f"p{partition}")
            except Exception:  # noqa: S112 (not held: missing or expired)
                continue
            if entry.value:
                held[partition] = entry.value.decode()
        return held

    def checkpoint(self, partition: int) -> dict[str, Any] | None:
        """The partition's last saved state (windows, alerts, sequence)."""
        return self._call(self._checkpoint(partition))

    async def _checkpoint(self, partition: int) -> dict[str, Any] | None:
        assert self.link is not None
        bucket = await self.link.bucket(STATE, ttl=0.0, replicas=self.replicas)
        try:
            entry = await bucket.get(f"p{partition}")
        except Exception:
            return None
        return json.loads(entry.value) if entry.value else None

    def send(self, key: str, value: float) -> None:
        """One sensor reading, published to its partition (acknowledged by JetStream)."""
        assert self.link is not None
        event = Event("sensors", key, time.time(), {"v": value})
        self._call(publish_events(self.link, [event], self.partitions))

    def _call(self, coroutine: Any) -> Any:
        assert self.link is not None
        return self.link.call(coroutine, timeout=60)


def saved_alert(checkpoint: dict[str, Any] | None, fingerprint: str) -> dict[str, Any] | None:
    """One alert of a partition's checkpoint (``rule/key``), as saved."""
    for alert in (checkpoint or {}).get("alerts", {}).get("book", {}).get("alerts", []):
        if f"{alert['rule']}/{alert['key']}" == fingerprint:
            return dict(alert)
    return None


def alert_state(checkpoint: dict[str, Any] | None, fingerprint: str) -> str | None:
    alert = saved_alert(checkpoint, fingerprint)
    return str(alert["state"]) if alert else None


def wait_until(
    check: Callable[[], bool], seconds: float, what: str, tick: Callable[[], None] | None = None
) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        if tick is not None:
            tick()
        time.sleep(0.1)
