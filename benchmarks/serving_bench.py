"""Logins and tracking while one 30 s query runs in the same server, on each backend.

The real app (``create_app``: dashboards, login, tracking) is served by uvicorn on
loopback. A thread runs a statement of ten billion rows on the app's own warehouse in an
interactive block of 30 s, as a slow dashboard request would (the block stops it). Before
and while it runs, a client logs in again and again (GET /login for the form, POST /login
timed; real argon2 cost) and sends tracking requests; the figures are their latencies.

Usage: python benchmarks/serving_bench.py [--seconds 30] [--backends duckdb,postgres]
(PostgreSQL: TALLY_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test)
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from hygiene import free_port

from tally.config import load_settings
from tally.errors import QueryTimeoutError
from tally.server import users
from tally.server.app import create_app
from tally.warehouse import connect, registry

ENDLESS = (
    "SELECT count(*) FROM range(100000) AS a(x), range(100000) AS b(y) WHERE a.x * b.y % 7 = 3"
)
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed_login(client: httpx.Client) -> float:
    token = CSRF.search(client.get("/login").text)
    assert token, "no login form"
    started = time.perf_counter()
    answer = client.post(
        "/login",
        data={"csrf_token": token.group(1), "username": "ana", "password": PASSWORD, "next": "/"},
    )
    seconds = time.perf_counter() - started
    assert answer.status_code == 303, answer.status_code
    client.cookies.clear()
    return seconds


def timed_hit(client: httpx.Client) -> float:
    started = time.perf_counter()
    answer = client.get("/matomo.php?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2F")
    assert answer.status_code == 200, answer.status_code
    return time.perf_counter() - started


def measure(url: str, folder: Path, seconds: float) -> dict[str, list[float]]:
    settings = load_settings(
        environ={"TALLY_DATA_DIR": str(folder / "data"), "TALLY_WAREHOUSE_URL": url}
    )
    store = connect(url)
    store.migrate()
    store.execute(
        "INSERT INTO web.sites VALUES (1, 'Shop', 'https://shop.example', '[]', 'UTC', "
        "TIMESTAMP '2026-01-01 00:00:00')"
    )
    users.add_user(store, "ana", PASSWORD, admin=True)
    port = free_port()
    app = create_app(settings, warehouse=store, run_loader=False, stream=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    while not server.started:
        time.sleep(0.05)
    figures: dict[str, list[float]] = {"login idle": [], "hit idle": []}
    figures |= {"login during": [], "hit during": [], "slow query": []}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        for _ in range(20):
            figures["login idle"].append(timed_login(client))
            figures["hit idle"].append(timed_hit(client))
        finished = threading.Event()

        def slow() -> None:
            started = time.perf_counter()
            try:
                with store.interactive(seconds):
                    store.rows(ENDLESS)
            except QueryTimeoutError:
                pass
            figures["slow query"].append(time.perf_counter() - started)
            finished.set()

        threading.Thread(target=slow).start()
        time.sleep(0.5)
        while not finished.is_set():
            figures["login during"].append(timed_login(client))
            figures["hit during"].append(timed_hit(client))
    server.should_exit = True
    serving.join(10)
    store.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--backends", default="duckdb,postgres")
    args = parser.parse_args()
    postgres = os.environ.get(
        "TALLY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}")
    for name in args.backends.split(","):
        backend = next(b for b in registry.backends() if b.name == name)
        with tempfile.TemporaryDirectory() as folder:
            with backend.scratch_url(Path(folder), postgres) as url:
                figures = measure(url, Path(folder), args.seconds)
        print(f"{name}: slow query ran {figures['slow query'][0]:.1f} s")
        for key in ("login idle", "login during", "hit idle", "hit during"):
            values = figures[key]
            print(
                f"  {key:13} n={len(values):4}  p50 {percentile(values, 0.5) * 1000:7.1f} ms  "
                f"p99 {percentile(values, 0.99) * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms"
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
