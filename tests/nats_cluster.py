"""Three real ``nats-server`` processes forming a JetStream cluster, for the tests.

Each server gets free loopback ports (client and cluster), its own store directory under
the test's temporary directory, and routes to the other two. ``kill(i)`` is kill -9;
``restart(i)`` starts the same server again on its store. ``stop()`` ends all three.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
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

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{port}" for port in self.client_ports]

    @property
    def url(self) -> str:
        """The setting's form: every server, comma-separated."""
        return ",".join(self.urls)

    def start(self) -> NatsCluster:
        ports = free_ports(2 * self.size)
        self.client_ports, self.cluster_ports = ports[: self.size], ports[self.size :]
        self.processes = [self._launch(index) for index in range(self.size)]
        self.wait_ready()
        return self

    def _launch(self, index: int) -> subprocess.Popen[bytes]:
        store = self.directory / f"n{index}"
        store.mkdir(parents=True, exist_ok=True)
        routes = ",".join(f"nats://127.0.0.1:{port}" for port in self.cluster_ports)
        command = [
            SERVER,
            *("-a", "127.0.0.1", "-p", str(self.client_ports[index])),
            *("-js", "-sd", str(store), "--server_name", f"n{index}"),
            *("--cluster_name", "tally-test"),
            *("--cluster", f"nats://127.0.0.1:{self.cluster_ports[index]}"),
            *("--routes", routes),
        ]
        log = open(self.directory / f"n{index}.log", "ab")  # noqa: SIM115 (the server's)
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, seconds: float = 30.0) -> None:
        """Until a replicated stream can be created (a meta leader is elected)."""
        asyncio.run(self._probe(seconds))

    async def _probe(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        problem: Exception | None = None
        while time.monotonic() < deadline:
            try:
                connection = await nats.connect(
                    servers=self.urls, connect_timeout=1, error_cb=_quiet, allow_reconnect=False
                )
            except Exception as error:
                problem = error
                await asyncio.sleep(0.2)
                continue
            try:
                js = connection.jetstream()
                replicas = sum(p is not None and p.poll() is None for p in self.processes)
                config = StreamConfig(name="READY", subjects=["ready"], num_replicas=replicas)
                await js.add_stream(config)
                await js.publish("ready", b"1", timeout=2)
                await js.delete_stream("READY")
                return
            except Exception as error:
                problem = error
                await asyncio.sleep(0.2)
            finally:
                await connection.close()
        raise RuntimeError(f"the NATS cluster did not become ready: {problem}")

    def kill(self, index: int) -> None:
        """kill -9 one server."""
        process = self.processes[index]
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

    def restart(self, index: int) -> None:
        self.kill(index)
        self.processes[index] = self._launch(index)

    def stop(self) -> None:
        for index in range(len(self.processes)):
            self.kill(index)


async def _quiet(_error: Exception) -> None:
    """nats-py prints every failed connection attempt unless given an error callback."""


def nats_cluster_or_skip(directory: Path) -> NatsCluster:
    if not Path(SERVER).exists():
        message = f"nats-server not installed (looked for {SERVER})"
        if os.environ.get("TALLY_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return NatsCluster(directory).start()
