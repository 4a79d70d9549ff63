"""Three real ``nats-server`` processes forming a JetStream cluster, for the tests.

Each server gets free loopback ports (client and cluster), its own store directory under
the test's temporary directory, and routes to the other two; each cluster has a name of its
own, so a route that reaches another test's cluster (a port freed and taken again) is
refused rather than merging the two. ``start()`` returns once the cluster is ready: every
server routed to every other, every server answering JetStream requests (a meta leader
known), and a stream replicated on all of them created and written. ``kill(i)`` is kill -9;
``restart(i)`` starts the same server again on its store. ``stop()`` ends all three.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig

SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


@dataclass
class NatsCluster:
    directory: Path
    size: int = 3
    client_ports: list[int] = field(default_factory=list)
    cluster_ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes] | None] = field(default_factory=list)
    name: str = field(default_factory=lambda: f"tally-test-{uuid.uuid4().hex[:8]}")

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{port}" for port in self.client_ports]

    @property
    def url(self) -> str:
        """The setting's form: every server, comma-separated."""
        return ",".join(self.urls)

    def start(self, attempts: int = 3) -> NatsCluster:
        """Launch the servers and wait until the cluster is ready. A server that exits while
        starting lost one of its ports to another process between ``free_ports`` and its
        own bind: the cluster then starts again on other ports."""
        for attempt in range(attempts):
            ports = free_ports(2 * self.size)
            self.client_ports, self.cluster_ports = ports[: self.size], ports[self.size :]
            self.processes = [self._launch(index) for index in range(self.size)]
            try:
                self.wait_ready()
                return self
            except ServerExited:
                self.stop()
                if attempt == attempts - 1:
                    raise
                for index in range(self.size):  # no trace of the first cluster's members
                    shutil.rmtree(self.directory / f"n{index}", ignore_errors=True)
        raise AssertionError("not reached")

    def _launch(self, index: int) -> subprocess.Popen[bytes]:
        store = self.directory / f"n{index}"
        store.mkdir(parents=True, exist_ok=True)
        routes = ",".join(f"nats://127.0.0.1:{port}" for port in self.cluster_ports)
        command = [
            SERVER,
            *("-a", "127.0.0.1", "-p", str(self.client_ports[index])),
            *("-js", "-sd", str(store), "--server_name", f"n{index}"),
            *("--cluster_name", self.name),
            *("--cluster", f"nats://127.0.0.1:{self.cluster_ports[index]}"),
            *("--routes", routes),
        ]
        log = open(self.directory / f"n{index}.log", "ab")  # noqa: SIM115 (the server's)
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, seconds: float = 60.0) -> None:
        """Until every live server is routed to every other one and answers JetStream
        requests, and a stream replicated on all of them can be created and written."""
        asyncio.run(self._probe(seconds))

    async def _probe(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        problem: Exception | str = "no answer yet"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                for index in self._live():
                    await self._probe_server(index)
                await self._probe_stream()
                return
            except Exception as error:
                problem = error
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the NATS cluster did not become ready in {seconds} s: {problem}")

    def _live(self) -> list[int]:
        return [i for i, p in enumerate(self.processes) if p is not None and p.poll() is None]

    def _check_alive(self) -> None:
        """A server has exited by itself (``kill`` forgets the ones it ends): raise
        ``ServerExited`` with the end of its log."""
        for index, process in enumerate(self.processes):
            if process is not None and process.poll() is not None:
                self.processes[index] = None
                log = (self.directory / f"n{index}.log").read_text(errors="replace")
                raise ServerExited(f"nats-server n{index} exited: {log[-600:]}")

    async def _probe_server(self, index: int) -> None:
        """Raise unless server ``index`` lists every live server's client port among its
        cluster's (the route mesh as it sees it) and answers ``$JS.API.INFO`` itself."""
        known = _cluster_client_ports(self.client_ports[index])
        missing = {self.client_ports[i] for i in self._live()} - known
        if missing:
            raise RuntimeError(f"n{index} is not routed to the servers on ports {missing}")
        connection = await nats.connect(
            servers=[self.urls[index]], connect_timeout=1, error_cb=_quiet, allow_reconnect=False
        )
        try:
            await connection.jetstream(timeout=2).account_info()
        finally:
            await connection.close()

    async def _probe_stream(self) -> None:
        connection = await nats.connect(
            servers=self.urls, connect_timeout=1, error_cb=_quiet, allow_reconnect=False
        )
        try:
            js = connection.jetstream()
            replicas = len(self._live())
            config = StreamConfig(name="READY", subjects=["ready"], num_replicas=replicas)
            await js.add_stream(config)
            await js.publish("ready", b"1", timeout=2)
            await js.delete_stream("READY")
        finally:
            await connection.close()

    def kill(self, index: int) -> None:
        """kill -9 one server (``restart`` starts it again)."""
        process = self.processes[index]
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        self.processes[index] = None

    def restart(self, index: int) -> None:
        self.kill(index)
        self.processes[index] = self._launch(index)

    def stop(self) -> None:
        for index in range(len(self.processes)):
            self.kill(index)


class ServerExited(RuntimeError):
    """A server of the cluster exited while it was starting."""


def _cluster_client_ports(port: int) -> set[int]:
    """The client ports of the servers that the server on ``port`` says are in its cluster
    (the ``connect_urls`` of the INFO line it greets a client with: known through routes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:
        greeting = probe.makefile("rb").readline()
    info = json.loads(greeting.removeprefix(b"INFO "))
    return {int(url.rsplit(":", 1)[1]) for url in info.get("connect_urls") or []}


async def _quiet(_error: Exception) -> None:
    """nats-py prints every failed connection attempt unless given an error callback."""


def nats_cluster_or_skip(directory: Path) -> NatsCluster:
    if not Path(SERVER).exists():
        message = f"nats-server not installed (looked for {SERVER})"
        if os.environ.get("TALLY_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return NatsCluster(directory).start()
