"""Tracking latency while the Reporting API runs its worst-case calls, side by side with
the same run without them.

One real server (``create_app`` on uvicorn, in its own process) over a week of demo
traffic (about 2,200 visits, 6,900 actions). A paced tracking load (``TRACKERS`` keep-alive
connections, one pageview every ``PACE`` s each; one hit in 50 names an unknown site,
which makes the server reload its site list, the lookup that stalled before) runs for
``--seconds`` s, twice: alone, then while eight Reporting API calls are in flight the whole
time (each answered call is sent again at once). A call is the worst the API accepts: 32
action conditions (the segment limit, each a correlated NOT EXISTS over web.actions) on
``Live.getLastVisitsDetails`` or ``Actions.getPageUrls`` over the whole data. Latency is
measured per hit from when it was due (every ``PACE`` s per connection) to the end of the
answer, so a stall counts for every hit it held back.

``--code DIR`` serves from another source tree (e.g. an export of an older commit), to
compare with the code before the report threads existed.

Usage: python benchmarks/report_isolation_bench.py [--seconds 20] [--code DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

TRACKERS = 8
PACE = 0.1  # seconds between one connection's hits: 8 x 10 = 80 hits/s offered
HEAVY_CALLS = 8
SEGMENT = ";".join(f"pageUrl!@/nothing-{number}" for number in range(32))
HEAVY_METHODS = ("Live.getLastVisitsDetails", "Actions.getPageUrls")
SOURCES = Path(__file__).resolve().parents[1] / "src"
CACHE = Path(tempfile.gettempdir()) / "tally-report-isolation-bench"


def prepare(data: Path) -> str:
    """A week of demo web traffic in ``data`` (copied from a cache after the first run),
    and a service token for the Reporting API calls."""
    from tally.config import load_settings
    from tally.server.auth import create_token
    from tally.warehouse import from_settings
    from tally.web.demo import generate_traffic

    if not (CACHE / "warehouse.duckdb").exists():
        shutil.rmtree(CACHE, ignore_errors=True)
        settings = load_settings(environ={"TALLY_DATA_DIR": str(CACHE)})
        warehouse = from_settings(settings)
        end = dt.date(2026, 3, 7)
        generate_traffic(warehouse, settings, 7, end - dt.timedelta(days=6), end)
        warehouse.close()
    shutil.copytree(CACHE, data)
    warehouse = from_settings(load_settings(environ={"TALLY_DATA_DIR": str(data)}))
    token = create_token(warehouse, "bench")
    warehouse.close()
    return token


def start_server(data: Path, port: int, code: Path, workers: int | None) -> subprocess.Popen[bytes]:
    script = (
        "import uvicorn\n"
        "from tally.config import load_settings\n"
        "from tally.server.app import create_app\n"
        "app = create_app(load_settings(), stream=False)\n"
        f"uvicorn.run(app, host='127.0.0.1', port={port}, access_log=False, log_level='error')\n"
    )
    environment = {**os.environ, "TALLY_DATA_DIR": str(data), "PYTHONPATH": str(code)}
    if workers is not None:  # older code has no such setting
        environment["TALLY_SERVER__REPORT_WORKERS"] = str(workers)
    server = subprocess.Popen([sys.executable, "-c", script], env=environment)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def hit(number: int) -> bytes:
    idsite = 999 if number % 50 == 0 else 1  # an unknown site: the site list is reloaded
    query = urlencode(
        {
            "idsite": idsite,
            "rec": 1,
            "url": f"https://shop.example/page/{number % 200}",
            "_id": f"{number % 4096:016x}",
            "send_image": 0,
            "r": number,
        }
    )
    return f"GET /matomo.php?{query} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()


async def tracker(port: int, first: int, stop: float, latencies: list[float]) -> int:
    """One keep-alive connection with a hit due every PACE s; returns the failures.

    A hit's latency counts from when it was due, not from when it could be sent: a server
    that stalls for 10 s delays every hit due meanwhile (100 per connection), not only the
    one in flight (no coordinated omission).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    number, failures = first, 0
    due = time.perf_counter()
    while time.monotonic() < stop:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        writer.write(hit(number))
        head = await reader.readuntil(b"\r\n\r\n")
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                await reader.readexactly(int(line.split(b":")[1]))
        latencies.append(time.perf_counter() - due)
        failures += head[9:12] not in (b"200", b"204", b"400")
        number += TRACKERS
        due += PACE
    writer.close()
    return failures


# each worst-case call's answer: its HTTP status (or the error's name) and its seconds
Answers = list[tuple[int | str, float]]


async def heavy_caller(port: int, token: str, method: str, stop: float, outcome: Answers) -> None:
    """Keeps one worst-case call in flight until ``stop``; notes each answer's status."""
    params = {
        "module": "API",
        "method": method,
        "idSite": "1",
        "period": "range",
        "date": "2026-03-01,2026-03-07",
        "format": "json",
        "flat": "1",
        "segment": SEGMENT,
        "token_auth": token,
    }
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        while time.monotonic() < stop:
            began = time.perf_counter()
            try:
                answer = await client.get("/index.php", params=params)
                outcome.append((answer.status_code, time.perf_counter() - began))
            except httpx.HTTPError as error:
                outcome.append((type(error).__name__, time.perf_counter() - began))


async def phase(port: int, token: str, seconds: float, heavy: bool) -> dict[str, object]:
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    outcome: Answers = []
    callers = [
        asyncio.create_task(heavy_caller(port, token, HEAVY_METHODS[i % 2], stop, outcome))
        for i in range(HEAVY_CALLS if heavy else 0)
    ]
    if heavy:
        await asyncio.sleep(1.0)  # the calls are running before the first hit is timed
    failures = await asyncio.gather(
        *(tracker(port, first, stop, latencies) for first in range(TRACKERS))
    )
    await asyncio.gather(*callers)
    ordered = sorted(latencies)
    return {
        "hits": len(ordered),
        "failed": sum(failures),
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
        "max_ms": 1000 * ordered[-1],
        "reports": _report_summary(outcome),
    }


def _report_summary(outcome: Answers) -> str:
    if not outcome:
        return "-"
    statuses: dict[object, int] = {}
    for status, _ in outcome:
        statuses[status] = statuses.get(status, 0) + 1
    longest = max(seconds for _, seconds in outcome)
    return f"{dict(sorted(statuses.items(), key=str))}, longest {longest:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--code", type=Path, default=SOURCES, help="source tree to serve")
    parser.add_argument("--port", type=int, default=18474)
    parser.add_argument("--report-workers", type=int, help="[server] report_workers (2)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        token = prepare(data)
        server = start_server(data, arguments.port, arguments.code, arguments.report_workers)
        try:
            print(
                f"code: {arguments.code}; report_workers {arguments.report_workers}; "
                f"load average at start: {os.getloadavg()[0]:.1f}"
            )
            for heavy in (False, True):
                figures = asyncio.run(phase(arguments.port, token, arguments.seconds, heavy))
                label = f"with {HEAVY_CALLS} worst-case reports" if heavy else "tracking alone"
                print(
                    f"{label:32} hits {figures['hits']:6} failed {figures['failed']:3} "
                    f"p50 {figures['p50_ms']:7.1f} ms  p99 {figures['p99_ms']:8.1f} ms  "
                    f"max {figures['max_ms']:8.1f} ms  reports: {figures['reports']}",
                    flush=True,
                )
            print(f"load average at end: {os.getloadavg()[0]:.1f}")
        finally:
            server.terminate()
            began = time.monotonic()
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
            print(f"server stopped {time.monotonic() - began:.1f} s after SIGTERM")


if __name__ == "__main__":
    main()
