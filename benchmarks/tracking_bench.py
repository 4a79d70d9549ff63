"""Tracking speed: /matomo.php against bare 204 endpoints on the same uvicorn settings, bulk
ingest in hits/s, loader throughput, and the server's peak memory (issues 6 and 27).

Eight endpoints on six servers, each timed in the same alternating rounds so all see the
same machine load:

- **raw ASGI 204** (the floor): a bare ASGI callable that answers 204 to every request, on
  uvicorn with the same settings as tally's server (httptools, no access log), its own
  process. Tracking requests reach tally's endpoint the same way: a raw ASGI callable
  dispatched first (``TallyApp``), so this is what a tracking request costs with no
  tracking work at all. Timed twice: with wrk's plain ``GET /`` (the strict floor the
  targets are judged against) and with the very page-view requests tally gets (a
  270-byte request line and a User-Agent: what uvicorn's parsing of them costs);
- **raw ASGI 204 after a shared 4 ms wait**: the same raw app, answering the page views
  only when a timer shared by all waiting requests fires (about one fdatasync): what the
  durable log's wait costs by itself, with no work and no thread;
- **Starlette 204**: a stock Starlette app with one route answering 204 (a second
  reference: what a framework route costs);
- **tally /bench/bare** (the old floor of issue 6): a 204 route added to tally's own app; it
  passes the session and login middleware that tracking requests skip, so it is slower than
  the others and made the tracking ratio look better than it is;
- **tally /matomo.php, ASGI path**: the same page views served by tally's app on uvicorn's
  stock httptools protocol (a second tally server with its own data directory): what the
  page views cost before ``tally.server.tracking_protocol`` answered them below ASGI;
- **tally /matomo.php, synced on the event loop**: tally as ``tally serve`` runs it, except
  that its hit log has no sync helper (``sync_helper=False``: the event loop syncs each
  batch itself, as before 2026-12-06 14:00; a third tally server with its own data
  directory): what the helper gains, in the same rounds;
- **tally /matomo.php**: a page view as matomo.js sends it, acknowledged after its
  group-committed ``fdatasync``, on the server exactly as ``tally serve`` runs it (the
  hit log's sync helper process syncs the batches the event loop writes).

A server's CPU is its process's and its children's (the sync helper's) together.

The load generator is ``wrk`` (Debian's package, C, epoll; ``apt-get install -y wrk``) with
one thread and 64 connections, each tracking request a different query (a Lua script);
without ``wrk`` it falls back to several Python client processes (said in the output). The
periodic loader is paused while requests are timed and measured separately afterwards.

``--hit-log-dir DIR`` puts the tally servers' hit logs under DIR (e.g. ``/dev/shm``, a
tmpfs where ``fdatasync`` costs nothing: the disk taken out of the figures, to see what
the rest of a durable hit costs); it is removed at the end. ``--sync-delay MS`` makes
every ``fdatasync`` of the tally servers (by the event loop, the writer thread or the sync
helper) take MS milliseconds more, a sleep: with ``--hit-log-dir /dev/shm``, a disk as fast
as this one at rest (0.16) while the machine is busy.

Usage: python benchmarks/tracking_bench.py [--quick] [--seconds S] [--rounds N]
    [--hit-log-dir DIR] [--sync-delay MS]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx
from hygiene import LoadWatch, temporary_folder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

CONNECTIONS = 64


ENDPOINTS = (
    "raw ASGI 204",
    "raw ASGI 204, page-view requests",
    "raw ASGI 204 after a shared 4 ms wait",
    "Starlette 204",
    "tally /bench/bare",
    "tally /matomo.php, ASGI path",
    "tally /matomo.php, synced on the event loop",
    "tally /matomo.php",
)


async def raw_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """The floor: answer 204 to every request, and nothing else (lifespan acknowledged)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


SHARED_WAIT = 0.004  # about one fdatasync on this machine (the profile prints its median)
_waiting: list[asyncio.Future[None]] = []


def _release_waiting() -> None:
    batch = list(_waiting)
    _waiting.clear()
    for future in batch:
        if not future.done():
            future.set_result(None)


async def raw_after_wait(scope: Scope, receive: Receive, send: Send) -> None:
    """The raw 204, answered only when a shared 4 ms timer fires, as a hit is answered only
    when the fdatasync of its batch ends: what waiting for a sync costs with no work and
    no thread (requests come in bursts, the event loop wakes more often for fewer)."""
    if scope["type"] == "http":
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if not _waiting:
            loop.call_later(SHARED_WAIT, _release_waiting)
        _waiting.append(future)
        await future
    await raw_asgi(scope, receive, send)


def serve(kind: str, descriptor: int) -> None:
    """Child process: one of the apps on uvicorn, on the listening socket the parent opened
    (port 0: the OS chose the port, so no two benches can collide)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def bare(_request: object) -> Response:
        return Response(status_code=204)

    listening = socket.socket(fileno=descriptor)
    if kind in ("raw", "wait", "starlette"):
        # the floors: tally serve's settings otherwise (httptools, no access log, lifespan)
        floors: dict[str, ASGIApp] = {
            "raw": raw_asgi,
            "wait": raw_after_wait,
            "starlette": Starlette(routes=[Route("/", bare)]),
        }
        config = uvicorn.Config(
            floors[kind], access_log=False, log_level="warning", lifespan="on", proxy_headers=False
        )
    else:  # tally, tally-asgi, tally-loop
        _delay_syncs(float(os.environ.get(SYNC_DELAY, "0")) / 1000)
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        from tally.config import load_settings
        from tally.server.app import create_app
        from tally.server.runner import server_config
        from tally.server.ui import access

        # The old floor: a public 204 route inside tally's app, behind its middleware.
        access.PUBLIC_PATHS = access.PUBLIC_PATHS | {"/bench/bare"}
        settings = load_settings()
        if kind == "tally-loop":  # no sync helper: the event loop syncs each batch
            from tally.web.hitlog import HitLog

            defaults = HitLog.__init__.__kwdefaults__
            assert defaults is not None  # sync_helper is keyword-only
            defaults["sync_helper"] = False
        app = create_app(settings)
        app.router.routes.insert(0, Route("/bench/bare", bare))
        if kind == "tally-asgi":  # every request through ASGI (the stock protocol)
            config = server_config(app, settings, log_level="warning", http=HttpToolsProtocol)
        else:  # as tally serve runs it (its page-view protocol)
            config = server_config(app, settings, log_level="warning")
    uvicorn.Server(config).run(sockets=[listening])


SYNC_DELAY = "BENCH_TRACKING_SYNC_DELAY_MS"  # --sync-delay, handed to the servers


def _delay_syncs(seconds: float) -> None:
    """Every fdatasync of this server, its writer thread's and its sync helper's, then
    sleeps ``seconds`` (``--sync-delay``)."""
    if seconds <= 0:
        return
    from tally.web import hitlog

    real = os.fdatasync

    def delayed(fd: FileDescriptorLike) -> None:  # os.fdatasync's own signature
        real(fd)
        time.sleep(seconds)

    os.fdatasync = delayed
    sync = "        os.fdatasync(fd)\n"
    assert sync in hitlog._HELPER  # the helper's program, changed the same way
    hitlog._HELPER = hitlog._HELPER.replace(
        sync, f"{sync}        __import__('time').sleep({seconds!r})\n"
    )


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
CLIENT_PROCESSES = 4  # the fallback load generator's processes (without wrk)

# wrk's request for tracking: a different page view each time, as tracking_query builds it.
WRK_TRACKING = """
counter = 0
request = function()
  counter = counter + 1
  local path = string.format("/matomo.php?idsite=1&rec=1&url=https%%3A%%2F%%2Fshop.example"
    .. "%%2Fpage%%2F%d&action_name=Page&_id=%016x&res=1920x1080&h=12&m=30&s=5&pv_id=abc123"
    .. "&send_image=0&r=%d", counter % 500, counter % 4096, counter)
  return wrk.format("GET", path, {["User-Agent"] = "bench/1.0"})
end
"""


class Measured:
    """Requests, wall-clock seconds and server CPU seconds summed over the rounds."""

    def __init__(self) -> None:
        self.requests = 0
        self.seconds = 0.0
        self.cpu = 0.0
        self.client_cpu = 0.0
        self.idle = 0.0  # the server's CPU use (cores) with no requests at all

    @property
    def busy_per_cpu(self) -> float:
        """Requests per server CPU-second left after its idle use (tally's server runs the
        stream engine's ticker and the hit log's thread even with no requests)."""
        return self.requests / max(1e-9, self.cpu - self.idle * self.seconds)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def per_cpu(self) -> float:
        return self.requests / self.cpu


def wrk_round(port: int, path: str, seconds: float, script: Path | None) -> tuple[int, float]:
    """One wrk run: (requests answered 2xx, elapsed seconds); any other answer stops the bench."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{round(seconds)}s"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise SystemExit(f"wrk saw failures:\n{output}")
    found = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", output)
    if not found:
        raise SystemExit(f"unexpected wrk output:\n{output}")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0}[found.group(3)]
    return int(found.group(1)), float(found.group(2)) * scale


def _client_process(job: tuple[int, list[bytes]]) -> list[int]:
    port, requests = job
    connections = CONNECTIONS // CLIENT_PROCESSES

    async def run() -> list[int]:
        statuses: list[int] = []
        chunks = [requests[i::connections] for i in range(connections)]
        await asyncio.gather(*(_connection(port, chunk, statuses) for chunk in chunks))
        return statuses

    return asyncio.run(run())


def python_round(port: int, requests: list[bytes], pool: object) -> tuple[int, float]:
    """The fallback: CLIENT_PROCESSES processes of asyncio clients, 64 connections in all."""
    jobs = [(port, requests[i::CLIENT_PROCESSES]) for i in range(CLIENT_PROCESSES)]
    started = time.perf_counter()
    statuses = [s for part in pool.map(_client_process, jobs) for s in part]  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    if any(not 200 <= s < 300 for s in statuses):
        raise SystemExit("requests failed")
    return len(statuses), elapsed


def children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def side_by_side(
    servers: dict[str, tuple[int, int]], rounds: int, seconds: float, folder: Path
) -> tuple[dict[str, Measured], str]:
    """Every endpoint timed in each of ``rounds`` rounds, one after the other, so the other
    work on the machine (which comes and goes within seconds) falls on all of them alike."""
    measured = {name: Measured() for name in ENDPOINTS}
    targets = {
        "raw ASGI 204": ("raw", "/"),
        "raw ASGI 204, page-view requests": ("raw", "/matomo.php"),
        "raw ASGI 204 after a shared 4 ms wait": ("wait", "/matomo.php"),
        "Starlette 204": ("starlette", "/"),
        "tally /bench/bare": ("tally", "/bench/bare"),
        "tally /matomo.php, ASGI path": ("tally-asgi", "/matomo.php"),
        "tally /matomo.php, synced on the event loop": ("tally-loop", "/matomo.php"),
        "tally /matomo.php": ("tally", "/matomo.php"),
    }
    use_wrk = shutil.which("wrk") is not None
    script = folder / "tracking.lua"
    script.write_text(WRK_TRACKING)
    pool = None if use_wrk else multiprocessing.get_context("fork").Pool(CLIENT_PROCESSES)
    count = int(seconds * 2_000)  # the fallback sends a fixed count (about `seconds` at 2k/s)
    number = 0
    idle = {}
    for kind, (_, pid) in servers.items():
        before = cpu_seconds(pid)
        time.sleep(seconds)
        idle[kind] = (cpu_seconds(pid) - before) / seconds
    for name, (kind, _) in targets.items():
        measured[name].idle = idle[kind]
    try:
        for _ in range(rounds):
            for name in ENDPOINTS:
                kind, path = targets[name]
                port, pid = servers[kind]
                tracking = path == "/matomo.php"  # page views (the raw floor answers them too)
                before, client_before = cpu_seconds(pid), children_cpu()
                if use_wrk:
                    done, elapsed = wrk_round(port, path, seconds, script if tracking else None)
                else:
                    if tracking:
                        requests = [tracking_request(number + i) for i in range(count)]
                        number += count
                    else:
                        requests = [get(path)] * count
                    done, elapsed = python_round(port, requests, pool)
                entry = measured[name]
                entry.requests += done
                entry.seconds += elapsed
                entry.cpu += cpu_seconds(pid) - before
                entry.client_cpu += children_cpu() - client_before
    finally:
        if pool is not None:
            pool.close()
    generator = (
        "wrk (1 thread, 64 connections)"
        if use_wrk
        else f"{CLIENT_PROCESSES} Python client processes (asyncio, 64 connections in all)"
    )
    return measured, generator


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process (all its threads) and of its children
    (tally's sync helper): running ones read from /proc, ended ones from the parent's
    count of its waited-for children."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if stat.parent.name == str(pid):
                ticks += sum(int(field) for field in fields[11:15])
            elif fields[1] == str(pid):  # a child (its own children are not tally's)
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


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


def hit_profile(folder: Path, count: int = 20_000) -> list[tuple[str, float]]:
    """Where a page view's time goes, in microseconds, measured in this process: each step
    of the endpoint alone (CPU time, best of 3 × ``count``), then the whole endpoint driven the way
    uvicorn drives it (64 at a time, the hit log's sync helper and fdatasync included, CPU
    of all threads and of the helper), and fdatasync's own latency on this disk."""
    import datetime as dt
    import timeit

    from tally.web import tracking
    from tally.web.hitlog import HitLog, frame
    from tally.web.params import check_hit, parse_query, quick_site

    query = tracking_query(7)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/matomo.php",
        "query_string": query.encode(),
        "headers": [(b"host", b"bench"), (b"user-agent", b"bench/1.0")],
        "client": ("127.0.0.1", 50000),
    }
    when = dt.datetime(2026, 1, 1)
    arrival = tracking._Arrival.of(scope, when)

    def record() -> bytes:
        incoming = tracking.Incoming(None, "get", query)
        incoming.take_token()
        arrival.tails.clear()  # a new request builds its record's tail anew
        return frame(tracking._record(arrival, incoming, False)[1])

    def micro(step: object) -> float:
        # CPU time of this process, not wall clock: on a busy machine waiting for a core
        # would otherwise be counted as the step's cost
        runs = timeit.repeat(step, number=count, repeat=3, timer=time.process_time)  # type: ignore[arg-type]
        return min(runs) / count * 1e6

    steps = [
        ("the clock (utc_now)", micro(tracking.utc_now)),
        ("headers and peer (_Arrival.of)", micro(lambda: tracking._Arrival.of(scope, when))),
        ("quick check of a plain query (quick_site)", micro(lambda: quick_site(query))),
        (
            "full check instead (parse_query + check_hit)",
            micro(lambda: check_hit(parse_query(query), received_at=when, authenticated=False)),
        ),
        ("quick check + log record + frame", micro(record)),
        (
            "send_image=0? (Incoming.sends_image)",
            micro(tracking.Incoming(None, "get", query).sends_image),
        ),
    ]
    log = HitLog(folder / "profile-log", 16 * 1024 * 1024)
    log.start()

    async def yes(_value: object) -> bool:
        return True

    queries = [tracking_query(i).encode() for i in range(count)]

    class NoLog:
        async def append(self, payloads: list[bytes]) -> list[str]:
            return [""] * len(payloads)

    def drive(hitlog: object, site_known: object) -> tuple[float, float]:
        """CPU (all threads) and wall seconds for ``count`` page views, 64 at a time."""
        endpoint = tracking.TrackingEndpoint(
            hitlog,  # type: ignore[arg-type]
            site_exists=yes,
            token_valid=yes,
            site_known=site_known,  # type: ignore[arg-type]
        )

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(_message: Message) -> None:
            return None

        async def run() -> None:
            for start in range(0, count, CONNECTIONS):
                await asyncio.gather(
                    *(
                        endpoint({**scope, "query_string": text}, receive, send)
                        for text in queries[start : start + CONNECTIONS]
                    )
                )

        cpu, wall = time.process_time(), time.perf_counter()
        asyncio.run(run())
        return time.process_time() - cpu, time.perf_counter() - wall

    def known(_site: int) -> bool:
        return True

    for label, site_known in (("full check", None), ("plain GET of a cached site", known)):
        cpu, _ = min(drive(NoLog(), site_known) for _ in range(3))
        steps.append((f"whole endpoint, no hit log ({label})", cpu / count * 1e6))
    helper = log._helper.pid if log._helper is not None else None  # its CPU counts too
    helper_cpu = cpu_seconds(helper) if helper else 0.0
    cpu, wall = drive(log, known)
    cpu += (cpu_seconds(helper) - helper_cpu) if helper else 0.0
    batches = log.batches
    log.close()
    steps.append(("whole endpoint, CPU of all threads per request", cpu / count * 1e6))
    steps.append(
        (
            f"whole endpoint, wall clock per request ({count / batches:.0f} per sync)",
            wall / count * 1e6,
        )
    )
    latencies = []
    with open(folder / "fsync-probe", "wb") as probe:
        for _ in range(50):
            probe.write(b"x" * 4096)
            probe.flush()
            started = time.perf_counter()
            os.fdatasync(probe.fileno())
            latencies.append(time.perf_counter() - started)
    fsync = sorted(latencies)[len(latencies) // 2] * 1e6
    steps.append(("fdatasync of 4 KB, median", fsync))
    steps.append(
        (f"so at {CONNECTIONS} connections: at most requests/s", CONNECTIONS / fsync * 1e6)
    )
    return steps


@contextlib.contextmanager
def hit_logs(directory: str | None) -> Iterator[Callable[[str], dict[str, str]]]:
    """The environment that puts a tally server's hit log under ``directory`` (none: in
    its data directory, as tally serve has it); removed at the end."""
    if directory is None:
        yield lambda _kind: {}
        return
    root = Path(tempfile.mkdtemp(prefix="tally-tracking-bench-logs-", dir=directory))
    try:
        yield lambda kind: {"TALLY_WEB__HIT_LOG_DIR": str(root / kind)}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def start_server(kind: str, environment: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """A server process on a port the OS picked (its listening socket is handed over)."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(1024)
    port = listening.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, str(listening.fileno())],
        env=environment,
        pass_fds=[listening.fileno()],
    )
    listening.close()  # the child holds its own copy
    return server, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short rounds (a smoke run)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per endpoint a round")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--hit-log-dir", help="where the tally servers' hit logs go")
    parser.add_argument(
        "--sync-delay", type=float, default=0.0, help="ms added to each of tally's syncs"
    )
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.serve[0], int(arguments.serve[1]))
        return
    seconds = 1.0 if arguments.quick else arguments.seconds
    rounds = 2 if arguments.quick else arguments.rounds
    bulks, bulk_size = (8, 1_000) if arguments.quick else (40, 2_500)

    watch = LoadWatch()
    with (
        temporary_folder("tally-tracking-bench-") as folder,
        hit_logs(arguments.hit_log_dir) as logs,
    ):
        profile = hit_profile(folder, 2_000 if arguments.quick else 20_000)
        token = prepare(folder)
        environment = {
            **os.environ,
            "TALLY_DATA_DIR": str(folder),
            "TALLY_WEB__LOAD_INTERVAL_SECONDS": "86400",
            SYNC_DELAY: str(arguments.sync_delay),
        }
        kinds = ("raw", "wait", "starlette", "tally")
        started = {kind: start_server(kind, {**environment, **logs("tally")}) for kind in kinds}
        # the ASGI path's and the loop-syncing tally: each its own data directory
        # (DuckDB has one writer a file)
        for kind in ("tally-asgi", "tally-loop"):
            (folder / kind).mkdir()
            prepare(folder / kind)
            started[kind] = start_server(
                kind, {**environment, "TALLY_DATA_DIR": str(folder / kind), **logs(kind)}
            )
        servers = {kind: (port, server.pid) for kind, (server, port) in started.items()}
        try:
            for port, _ in servers.values():
                _wait(port)
            tally_port, tally_pid = servers["tally"]
            rate(tally_port, [get("/bench/bare")] * 500 + [tracking_request(i) for i in range(500)])
            for kind in ("tally-asgi", "tally-loop"):
                rate(servers[kind][0], [tracking_request(i) for i in range(500)])
            measured, generator = side_by_side(servers, rounds, seconds, folder)
            cpu = cpu_seconds(tally_pid)
            bulk_rate = bulk_ingest(tally_port, bulks, bulk_size)
            bulk_cpu = cpu_seconds(tally_pid) - cpu
            load_started = time.perf_counter()
            loaded = httpx.post(
                f"http://127.0.0.1:{tally_port}/api/tracking/load",
                headers={"authorization": f"Bearer {token}"},
                timeout=3600,
            ).json()["loaded"]
            load_rate = loaded / (time.perf_counter() - load_started)
            memory = peak_memory_mb(tally_pid)
            log = httpx.get(
                f"http://127.0.0.1:{tally_port}/api/tracking/stats",
                headers={"authorization": f"Bearer {token}"},
            ).json()["hit_log"]
        finally:
            for server, _ in started.values():
                server.terminate()
                server.wait()
    watch.finish()
    print("\nwhere a page view's time goes (in this process, µs):")
    for step, value in profile:
        print(f"  {step:<55} {value:10,.1f}")
    if arguments.hit_log_dir:
        print(f"\nthe tally servers' hit logs were under {arguments.hit_log_dir}")
    if arguments.sync_delay:
        print(f"each of the tally servers' syncs took {arguments.sync_delay:g} ms more (a sleep)")
    report(measured, generator, rounds, seconds, watch)
    bulk_per_cpu = bulks * bulk_size / bulk_cpu
    print(
        f"bulk ingest ({bulks} x {bulk_size:,}): {bulk_rate:,.0f} hits/s "
        f"[{bulk_per_cpu:,.0f} per server CPU-second] (target >= 100,000: "
        f"wall {watch.verdict(bulk_rate >= 100_000)}, per CPU "
        f"{watch.verdict(bulk_per_cpu >= 100_000)})"
    )
    print(f"loader into DuckDB: {load_rate:,.0f} hits/s ({loaded:,} hits)")
    print(f"tally server peak memory: {memory:,.0f} MB")
    group = log["synced_records"] / max(1, log["synced_batches"])
    print(
        f"group commit: {group:.1f} records per fdatasync ({log['synced_batches']} syncs, "
        f"{log.get('helper_batches', 0)} by the sync helper, "
        f"{log.get('loop_batches', 0)} on the event loop; "
        f"syncing handed to the writer thread {log.get('handoffs', 0)} times)"
    )


def report(
    measured: dict[str, Measured], generator: str, rounds: int, seconds: float, watch: LoadWatch
) -> None:
    """The side-by-side table (markdown, as benchmarks/README.md holds it)."""
    floor = measured["raw ASGI 204"]
    tracking = measured["tally /matomo.php"]
    print(f"\nload generator: {generator}; {rounds} rounds of {seconds:g} s per endpoint")
    print(
        "| endpoint | requests/s | per server CPU-second | same, less idle use | "
        "server CPU use (idle) | client CPU use |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name in ENDPOINTS:
        entry = measured[name]
        print(
            f"| {name} | {entry.rate:,.0f} | {entry.per_cpu:,.0f} | {entry.busy_per_cpu:,.0f} | "
            f"{entry.cpu / entry.seconds:.2f} cores ({entry.idle:.2f}) | "
            f"{entry.client_cpu / entry.seconds:.2f} cores |"
        )
    for name in ENDPOINTS[:-1]:
        entry = measured[name]
        wall, per_cpu = tracking.rate / entry.rate, tracking.per_cpu / entry.per_cpu
        less_idle = tracking.busy_per_cpu / entry.busy_per_cpu
        line = f"| /matomo.php ÷ {name} | {wall:.2f} | {per_cpu:.2f} | {less_idle:.2f} | | |"
        if entry is floor:
            line = (
                f"| **/matomo.php ÷ raw ASGI 204 (the floor)** | **{wall:.2f}** "
                f"({watch.verdict(wall >= 0.6)}) | **{per_cpu:.2f}** "
                f"({watch.verdict(per_cpu >= 0.6)}) | {less_idle:.2f} | target ≥ 0.6 | |"
            )
        print(line)


def _wait(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return  # any HTTP answer: the server is up
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


if __name__ == "__main__":
    main()
