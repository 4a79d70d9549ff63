"""Tracking speed: requests/s at 64 connections against a bare 204 endpoint on the same
server, bulk ingest in hits/s, loader throughput, and the server's peak memory.

The server is the real one (``create_app`` on uvicorn, in its own process) with one extra
route, ``/bench/bare``, that only answers 204 (a public Starlette route, so it passes the
session and login middleware that tracking requests skip): the ratio of the two rates is
what the tracking work costs (parsing, checking, the group-committed fsync). The periodic loader is
paused while requests are timed and measured separately afterwards.

Usage: python benchmarks/tracking_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

CONNECTIONS = 64


def serve(port: int) -> None:
    """Child process: the tally app plus the bare endpoint, on uvicorn."""
    import uvicorn
    from starlette.responses import Response
    from starlette.routing import Route

    from tally.config import load_settings
    from tally.server.app import create_app
    from tally.server.ui import access

    async def bare(_request: object) -> Response:
        return Response(status_code=204)

    # The bare route is public like the tracking paths, so it passes the session and login
    # middleware instead of being redirected to /login; tracking requests are dispatched in
    # front of that middleware (TallyApp), the bare route goes through it.
    access.PUBLIC_PATHS = access.PUBLIC_PATHS | {"/bench/bare"}
    app = create_app(load_settings())
    app.router.routes.insert(0, Route("/bench/bare", bare))
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


# A hand-written HTTP/1.1 keep-alive client: a Python HTTP library would spend more CPU
# per request than the server does, and the figure would measure the client.
async def _connection(port: int, requests: list[bytes], statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for request in requests:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        statuses.append(int(head[9:12]))
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if length:
            await reader.readexactly(length)
    writer.close()


async def _run(port: int, requests: list[bytes]) -> tuple[float, list[int]]:
    per_connection = [requests[i::CONNECTIONS] for i in range(CONNECTIONS)]
    statuses: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, chunk, statuses) for chunk in per_connection))
    return time.perf_counter() - started, statuses


def rate(port: int, requests: list[bytes]) -> float:
    elapsed, statuses = asyncio.run(_run(port, requests))
    failed = [s for s in statuses if not 200 <= s < 300]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed, e.g. HTTP {failed[0]}")
    return len(requests) / elapsed


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench/1.0\r\n\r\n".encode()


def post(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench/1.0\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def bulk_ingest(port: int, bulks: int, size: int) -> float:
    """Hits/s through bulk POSTs (``size`` hits each) sent over the same 64 connections."""
    body = json.dumps({"requests": ["?" + tracking_query(i) for i in range(size)]}).encode()
    elapsed, statuses = asyncio.run(_run(port, [post("/matomo.php", body)] * bulks))
    if any(status != 200 for status in statuses):
        raise SystemExit(f"bulk requests failed: {statuses[:3]}")
    return bulks * size / elapsed


def tracking_request(number: int) -> bytes:
    return get(f"/matomo.php?{tracking_query(number)}")


def tracking_query(number: int) -> str:
    """What matomo.js sends for a pageview (minus the cookie-derived fields)."""
    return urlencode(
        {
            "idsite": 1,
            "rec": 1,
            "url": f"https://shop.example/page/{number % 500}",
            "action_name": "Page",
            "_id": f"{number % 4096:016x}",
            "res": "1920x1080",
            "h": 12,
            "m": 30,
            "s": 5,
            "pv_id": "abc123",
            "send_image": 0,
            "r": number,
        }
    )


ROUNDS = 4


def side_by_side(port: int, pid: int, count: int) -> tuple[float, float, float, float]:
    """Bare and tracking rates (and server CPU seconds), measured in alternating rounds.

    The other work on the machine comes and goes within seconds; alternating the two
    endpoints ROUNDS times puts both under the same conditions, so their ratio is steadier
    than that of two runs one after the other.
    """
    elapsed = {"bare": 0.0, "tracking": 0.0}
    cpu = {"bare": 0.0, "tracking": 0.0}
    per_round = count // ROUNDS
    for number in range(ROUNDS):
        first = number * per_round
        for name, requests in (
            ("bare", [get("/bench/bare")] * per_round),
            ("tracking", [tracking_request(i) for i in range(first, first + per_round)]),
        ):
            before = cpu_seconds(pid)
            elapsed[name] += per_round / rate(port, requests)
            cpu[name] += cpu_seconds(pid) - before
    total = per_round * ROUNDS
    return total / elapsed["bare"], cpu["bare"], total / elapsed["tracking"], cpu["tracking"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prepare(data_dir: Path) -> str:
    from tally.server.auth import create_token
    from tally.warehouse import connect

    warehouse = connect(f"duckdb:///{data_dir}/warehouse.duckdb")
    warehouse.migrate()
    warehouse.execute(
        "INSERT INTO web.sites VALUES (1, 'Bench', 'https://shop.example', '[]', 'UTC', "
        "TIMESTAMP '2026-01-01 00:00:00')"
    )
    token = create_token(warehouse, "bench")
    warehouse.close()
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.serve)
        return
    count = 3_000 if arguments.quick else 20_000
    bulks, bulk_size = (8, 1_000) if arguments.quick else (40, 2_500)

    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        token = prepare(data_dir)
        port = 18_000 + os.getpid() % 1000
        environment = {
            **os.environ,
            "TALLY_DATA_DIR": str(data_dir),
            "TALLY_WEB__LOAD_INTERVAL_SECONDS": "86400",
        }
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=environment)
        try:
            _wait(port)
            rate(port, [get("/bench/bare")] * 500 + [tracking_request(i) for i in range(500)])
            bare, bare_cpu, tracking, tracking_cpu = side_by_side(port, server.pid, count)
            cpu = cpu_seconds(server.pid)
            bulk_rate = bulk_ingest(port, bulks, bulk_size)
            bulk_cpu = cpu_seconds(server.pid) - cpu
            load_started = time.perf_counter()
            loaded = httpx.post(
                f"http://127.0.0.1:{port}/api/tracking/load",
                headers={"authorization": f"Bearer {token}"},
                timeout=600,
            ).json()["loaded"]
            load_rate = loaded / (time.perf_counter() - load_started)
            memory = peak_memory_mb(server.pid)
            log = httpx.get(
                f"http://127.0.0.1:{port}/api/tracking/stats",
                headers={"authorization": f"Bearer {token}"},
            ).json()["hit_log"]
        finally:
            server.terminate()
            server.wait()
    timed = count // ROUNDS * ROUNDS
    total = timed + 500 + bulks * bulk_size
    per_cpu = (timed / bare_cpu, timed / tracking_cpu, bulks * bulk_size / bulk_cpu)
    load = os.getloadavg()[0]
    print(
        f"tracking over loopback, {CONNECTIONS} connections, {count} requests to each endpoint"
        f" in {ROUNDS} alternating rounds"
    )
    print(f"(load average {load:.1f} on {os.cpu_count()} CPUs; per server CPU-second in brackets)")
    print(f"  bare 204 endpoint      {bare:10,.0f} requests/s  [{per_cpu[0]:8,.0f}]")
    print(f"  /matomo.php            {tracking:10,.0f} requests/s  [{per_cpu[1]:8,.0f}]")
    print(
        f"  ratio                  {tracking / bare:10.2f}   (target >= 0.6)"
        f"  [{per_cpu[1] / per_cpu[0]:.2f}]"
    )
    print(
        f"bulk ingest ({bulks} x {bulk_size})  {bulk_rate:10,.0f} hits/s      [{per_cpu[2]:8,.0f}]"
        "  (target >= 50,000)"
    )
    print(f"loader into DuckDB       {load_rate:10,.0f} hits/s   ({loaded} of {total} hits)")
    print(f"server peak memory       {memory:10,.0f} MB")
    group = log["synced_records"] / max(1, log["synced_batches"])
    syncs = log["synced_batches"]
    print(f"group commit             {group:10.1f} records per fdatasync ({syncs} syncs)")


def _wait(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


if __name__ == "__main__":
    main()
