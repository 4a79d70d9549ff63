"""A real ``tally serve`` in a subprocess on a free port, for tests that drive it with
Matomo's own clients (import_logs.py, matomo.js). The caller prepares the warehouse (sites,
goals, a token) before the server opens it: DuckDB lets one process write a file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tally.server.auth import create_token
from tally.warehouse import Warehouse, connect


def matomo_clients() -> Path | None:
    """Matomo's own clients (matomo.js, import_logs.py), kept unmodified beside the
    checkout in ``../shared/clients`` (not in the repository: other licences), or where
    ``TALLY_TEST_MATOMO_CLIENTS`` points."""
    if os.environ.get("TALLY_TEST_MATOMO_CLIENTS"):
        return Path(os.environ["TALLY_TEST_MATOMO_CLIENTS"])
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "clients"
        if candidate.is_dir():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    url: str  # http://127.0.0.1:PORT
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, method: str, **params: Any) -> Any:
        """One Reporting API call over HTTP (JSON), with the token."""
        query = {"module": "API", "method": method, "format": "json", **params}
        answer = httpx.post(
            f"{self.url}/index.php", data={**query, "token_auth": self.token}, timeout=30
        )
        answer.raise_for_status()
        return answer.json()

    def load_now(self) -> dict[str, int]:
        """Load the hit log and sessionize now (what the background task does every 0.2 s)."""
        answer = httpx.post(
            f"{self.url}/api/tracking/load",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )
        answer.raise_for_status()
        return dict(answer.json())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def serve(
    data_dir: Path,
    prepare: Callable[[Warehouse], None],
    environment: dict[str, str] | None = None,
) -> Served:
    """Prepare the warehouse in ``data_dir``, then start ``tally serve`` on it (with
    ``environment``'s settings as well)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    warehouse = connect(f"duckdb:///{data_dir}/warehouse.duckdb")
    warehouse.migrate()
    prepare(warehouse)
    token = create_token(warehouse, "matomo-clients")
    warehouse.close()
    port = free_port()
    environment = {
        **os.environ,
        "TALLY_DATA_DIR": str(data_dir),
        "TALLY_WEB__LOAD_INTERVAL_SECONDS": "0.2",
        **(environment or {}),
    }
    log = data_dir / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "tally.server", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # a busy 2-core machine (8 suites at once) is slow
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return Served(url, token, process, log)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"tally serve did not start within 180 s: {log.read_text()[-2000:]}")
