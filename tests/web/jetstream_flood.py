"""Tracking nodes, loaders and a three-server NATS cluster as real processes, a flood of hits
through them while parts are killed (kill -9), and the count afterwards.

Used by tests/web/test_hitstream_cluster.py (a few thousand hits) and by
benchmarks/nats_bench.py (the issue's 100,000). Every hit carries its number in its URL
(``/p<n>``), so ``web.hits`` tells which hits are stored and how often.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tests.nats_cluster import NatsCluster, free_ports

from tally.warehouse import Warehouse, connect
from tally.web import sites

TALLY = str(Path(sys.executable).parent / "tally")


@dataclass
class Process:
    name: str
    command: list[str]
    environment: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        self.process = subprocess.Popen(
            self.command,
            env=self.environment,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )
        return self

    def kill(self) -> None:
        """kill -9."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Counts:
    sent: int = 0
    acknowledged: int = 0  # answered 2xx
    refused: int = 0  # answered, not 2xx (503: JetStream did not acknowledge in time)
    unanswered: int = 0  # connection refused or cut: the node was dead or died
    stored: int = 0  # distinct hits in web.hits
    acknowledged_stored_once: int = 0
    acknowledged_missing: int = 0
    duplicated: int = 0  # hits stored more than once
    unanswered_stored: int = 0  # of the hits without an answer, stored (once)
    seconds: float = 0.0
    events: list[str] = field(default_factory=list)


@dataclass
class Deployment:
    """A cluster, ``nodes`` tracking servers and one loader on one PostgreSQL database."""

    directory: Path
    warehouse_url: str
    nodes: int = 2
    batch: int = 500
    cluster: NatsCluster | None = None
    servers: list[Process] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    loader: Process | None = None

    def start(self) -> Deployment:
        self.cluster = NatsCluster(self.directory / "nats").start()
        store = connect(self.warehouse_url)
        store.migrate()
        sites.add_site(store, "Shop", ["https://shop.example"], "UTC")
        store.close()
        ports = free_ports(self.nodes)
        for index, port in enumerate(ports):
            command = [sys.executable, "-m", "tally.server", "--host", "127.0.0.1"]
            server = Process(
                f"node{index}",
                [*command, "--port", str(port)],
                self.environment(f"node{index}", serve_loads=False),
                self.directory / f"node{index}.log",
            )
            self.servers.append(server.start())
            self.urls.append(f"http://127.0.0.1:{port}")
        self.loader = self.new_loader().start()
        for url in self.urls:
            wait_for(lambda url=url: _healthy(url), 90, f"{url} did not start")
        return self

    def environment(self, name: str, *, serve_loads: bool = True) -> dict[str, str]:
        assert self.cluster is not None
        data = self.directory / name
        data.mkdir(parents=True, exist_ok=True)
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("TALLY_")},
            "TALLY_DATA_DIR": str(data),
            "TALLY_WAREHOUSE_URL": self.warehouse_url,
            "TALLY_WEB__HIT_LOG_URL": self.cluster.url,
            "TALLY_WEB__HIT_STREAM_REPLICAS": "3",
            "TALLY_WEB__SERVE_LOADS": "true" if serve_loads else "false",
            "TALLY_WEB__LOAD_INTERVAL_SECONDS": "0.2",
            "TALLY_WEB__LOAD_BATCH_RECORDS": str(self.batch),
            "TALLY_WEB__PROVIDER_LOOKUP": "false",
            "TALLY_WEB__LOAD_ACK_WAIT_SECONDS": "5",
        }

    def new_loader(self) -> Process:
        return Process(
            "loader",
            [TALLY, "web", "load", "--follow"],
            self.environment("loader"),
            self.directory / "loader.log",
        )

    def restart_loader(self) -> None:
        assert self.loader is not None
        self.loader.kill()
        self.loader = self.new_loader().start()

    def stream_leader(self) -> int:
        """Index of the server leading the hit stream."""
        assert self.cluster is not None
        info = _stream_info(self.cluster.url)
        return int(info.cluster.leader.removeprefix("n"))

    def wait_loaded(self, expected_at_least: int, seconds: float = 180.0) -> None:
        """Until the loader has acknowledged everything in the stream."""
        assert self.cluster is not None

        def caught_up() -> bool:
            consumer = _consumer_info(self.cluster.url)
            return consumer is not None and (
                consumer.num_pending == 0
                and consumer.num_ack_pending == 0
                and consumer.delivered.stream_seq >= expected_at_least
            )

        wait_for(caught_up, seconds, "the loader did not catch up")

    def stop(self) -> None:
        for process in [*self.servers, *([self.loader] if self.loader else [])]:
            process.stop()
        if self.cluster is not None:
            self.cluster.stop()


def wait_for(check: Callable[[], bool], seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: S110 (not up yet)
            pass
        time.sleep(0.3)
    raise AssertionError(message)


def _healthy(url: str) -> bool:
    return httpx.get(f"{url}/health", timeout=2).status_code == 200


def _jetstream(url: str, action: Callable) -> object:
    import nats

    async def run() -> object:
        connection = await nats.connect(servers=url.split(","), connect_timeout=2)
        try:
            return await action(connection.jetstream())
        finally:
            await connection.close()

    return asyncio.run(run())


def _stream_info(url: str):  # noqa: ANN202 (nats-py's StreamInfo)
    return _jetstream(url, lambda js: js.stream_info("TALLY_HITS"))


def _consumer_info(url: str):  # noqa: ANN202
    return _jetstream(url, lambda js: js.consumer_info("TALLY_HITS", "tally-loader"))


# -- the flood -------------------------------------------------------------------------


async def flood(
    urls: list[str],
    total: int,
    *,
    concurrency: int = 16,
    at: dict[int, Callable[[], None]] | None = None,
) -> tuple[set[int], set[int], set[int], list[str]]:
    """Send hits 0..total-1 (single GETs), spread over the nodes; ``at[n]`` runs (in a
    thread) once hit n is sent. Returns (acknowledged, refused, unanswered, events).

    A hit goes to the next node in turn; a node that refused a connection is left out from
    then on (a load balancer's health check), and the hit that found it dead is not sent
    again (the client had no answer: it cannot know whether it was stored)."""
    acknowledged: set[int] = set()
    refused: set[int] = set()
    unanswered: set[int] = set()
    alive = list(urls)
    events: list[str] = []
    actions = dict(at or {})
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(total):
        queue.put_nowait(number)
    started = time.monotonic()

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                number = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if number in actions:
                action = actions.pop(number)
                events.append(f"{time.monotonic() - started:.1f} s, hit {number}: {action.__doc__}")
                await asyncio.to_thread(action)
            if not alive:
                unanswered.add(number)
                continue
            url = alive[number % len(alive)]
            query = f"idsite=1&rec=1&send_image=0&url=https%3A%2F%2Fshop.example%2Fp{number}"
            try:
                answer = await client.get(f"{url}/matomo.php?{query}")
            except httpx.TransportError:
                unanswered.add(number)
                if url in alive and not await _up(client, url) and url in alive:
                    alive.remove(url)
                    events.append(f"{time.monotonic() - started:.1f} s: {url} left out")
                continue
            (acknowledged if answer.is_success else refused).add(number)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return acknowledged, refused, unanswered, events


async def _up(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.get(f"{url}/health", timeout=2)).is_success
    except httpx.TransportError:
        return False


def count(
    warehouse: Warehouse,
    acknowledged: set[int],
    refused: set[int],
    unanswered: set[int],
    total: int,
) -> Counts:
    """Which hits web.hits holds, and how often, against what the client was told."""
    copies: dict[int, int] = {}
    for url, times in warehouse.rows("SELECT url, count(*) FROM web.hits GROUP BY url"):
        copies[int(str(url).rsplit("/p", 1)[1])] = int(times)
    return Counts(
        sent=total,
        acknowledged=len(acknowledged),
        refused=len(refused),
        unanswered=len(unanswered),
        stored=len(copies),
        acknowledged_stored_once=sum(copies.get(n) == 1 for n in acknowledged),
        acknowledged_missing=sum(n not in copies for n in acknowledged),
        duplicated=sum(times > 1 for times in copies.values()),
        unanswered_stored=sum(n in copies for n in unanswered | refused),
    )
