"""The crash test: a real uvicorn server is killed with SIGKILL while a client sends hits;
after a restart every hit that got a 2xx is in web.hits exactly once."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tally.warehouse import connect

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "TALLY_DATA_DIR": str(data_dir),
        "TALLY_WEB__LOAD_INTERVAL_SECONDS": "0.2",
        # Small segments, so the kill also lands around rotations and sealed segments.
        "TALLY_WEB__SEGMENT_BYTES": "20000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tally.server", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=open(data_dir / f"server-{time.monotonic_ns()}.log", "wb"),  # noqa: SIM115
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not start within 60 s")


def test_no_acknowledged_hit_is_lost_or_doubled_after_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    warehouse = connect(f"duckdb:///{data_dir}/warehouse.duckdb")
    warehouse.migrate()
    warehouse.execute(
        "INSERT INTO web.sites VALUES (1, 'Shop', 'https://shop.example', '[]', 'UTC', "
        "TIMESTAMP '2026-01-01 00:00:00')"
    )
    warehouse.close()
    port = free_port()
    server = start_server(data_dir, port)

    acknowledged: set[int] = set()
    failures: list[str] = []
    numbers = itertools.count()
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            while not stop.is_set():
                with lock:
                    number = next(numbers)
                try:
                    response = http.get(
                        "/matomo.php",
                        params={
                            "idsite": 1,
                            "rec": 1,
                            "url": f"https://shop.example/{number}",
                            "send_image": 0,
                        },
                    )
                except httpx.TransportError as error:
                    failures.append(type(error).__name__)
                    return
                if 200 <= response.status_code < 300:
                    with lock:
                        acknowledged.add(number)

    with ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(client)
        while len(acknowledged) < 1500 and server.poll() is None:
            time.sleep(0.01)
        server.send_signal(signal.SIGKILL)  # mid-stream: 8 clients are sending right now
        server.wait()
        stop.set()
    assert len(acknowledged) >= 1500
    assert failures, "the kill should have interrupted requests in flight"

    restarted = start_server(data_dir, port)
    restarted.send_signal(signal.SIGTERM)  # a clean stop runs one last load
    # uvicorn re-raises the signal once its shutdown (and our last load) has completed.
    assert restarted.wait(timeout=120) in (0, -signal.SIGTERM)

    warehouse = connect(f"duckdb:///{data_dir}/warehouse.duckdb")
    urls = [row[0] for row in warehouse.rows("SELECT url FROM web.hits")]
    warehouse.close()
    stored = [int(url.rsplit("/", 1)[1]) for url in urls]
    assert len(stored) == len(set(stored)), "a hit was loaded twice"
    missing = acknowledged - set(stored)
    assert not missing, f"{len(missing)} acknowledged hits lost, e.g. {sorted(missing)[:5]}"
