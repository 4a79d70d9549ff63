"""Where a page view's server CPU goes: the tracking endpoint alone on uvicorn, with and
without its hit log, against the raw 204 floor (issues 26 and 27).

Each variant is its own uvicorn process (tally's serve settings: httptools when installed,
no access log) on a socket the OS picked, answering the page-view requests matomo.js sends:

- **raw 204**: an ASGI callable that answers 204 and does nothing else (the floor);
- **endpoint, no-op log**: ``TrackingEndpoint`` (plain-GET shortcut on, every site known)
  with a hit log that acknowledges at once: the endpoint's own Python and headers;
- **endpoint, hit log**: the same with the real ``HitLog`` as tally runs it
  (group-committed ``fdatasync`` by its sync helper process, whose CPU counts as the
  server's);
- **endpoint, hit log, no delay**: the real log without the helper, every batch synced by
  the writer thread (``inline_limit=0``) with ``commit_delay=0`` (the code before issue
  27's changes).

``wrk`` (1 thread, 64 connections, each request a different page view) drives the variants
in alternating rounds so all see the same machine load. Printed per variant: requests/s,
server CPU µs per request (min and median over the rounds) and, for the real logs, records
per ``fdatasync``. Needs ``wrk`` (``apt-get install -y wrk``; without it the script says so
and stops). About 4 × rounds × seconds, plus the servers' start.

Usage: PYTHONPATH=$PWD/src .venv/bin/python benchmarks/hitlog_split_bench.py \\
    [--rounds 4] [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from hygiene import LoadWatch, temporary_folder
from starlette.types import ASGIApp, Receive, Scope, Send
from tracking_bench import WRK_TRACKING, cpu_seconds, raw_asgi, wrk_round

VARIANTS = {
    "raw 204": "raw",
    "endpoint, no-op log": "nolog",
    "endpoint, hit log": "hitlog",
    "endpoint, hit log, no delay": "nodelay",
}
SEGMENT_BYTES = 16 * 1024 * 1024


class NoLog:
    """A hit log that acknowledges every record at once (nothing written, nothing synced)."""

    async def append(self, payloads: list[bytes]) -> list[str]:
        return [""] * len(payloads)


def endpoint_app(kind: str, folder: Path) -> ASGIApp:
    """The variant's ASGI app; the real logs write their counts to ``folder`` at shutdown."""
    from tally.web.hitlog import HitLog
    from tally.web.tracking import TrackingEndpoint

    if kind == "raw":
        return raw_asgi
    log: HitLog | None = None
    if kind != "nolog":
        log = (
            HitLog(
                folder / kind,
                SEGMENT_BYTES,
                commit_delay=0.0,
                inline_limit=0,
                sync_helper=False,
            )
            if kind == "nodelay"
            else HitLog(folder / kind, SEGMENT_BYTES)
        )
        log.start()

    async def yes(_value: object) -> bool:
        return True

    def known(_site: int) -> bool:
        return True

    endpoint = TrackingEndpoint(
        log if log is not None else NoLog(),
        site_exists=yes,
        token_valid=yes,
        site_known=known,
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await endpoint(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if log is not None:
                    counts = {"batches": log.batches, "records": log.records}
                    log.close()
                    (folder / f"{kind}.json").write_text(json.dumps(counts))
                await send({"type": "lifespan.shutdown.complete"})
                return

    return app


def serve(kind: str, descriptor: int, folder: Path) -> None:
    """Child process: one variant on uvicorn, on the listening socket the parent opened."""
    import uvicorn

    listening = socket.socket(fileno=descriptor)
    config = uvicorn.Config(
        endpoint_app(kind, folder), access_log=False, log_level="warning", lifespan="on"
    )
    uvicorn.Server(config).run(sockets=[listening])


def start(kind: str, folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(1024)
    port = listening.getsockname()[1]
    arguments = [sys.executable, __file__, "--serve", kind, str(listening.fileno()), str(folder)]
    server = subprocess.Popen(arguments, pass_fds=[listening.fileno()])
    listening.close()
    return server, port


def wait_until_up(port: int) -> None:
    """The parent's socket accepts before uvicorn runs, so wait for an HTTP answer."""
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/matomo.php?idsite=1&rec=1&send_image=0", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"no server on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per variant a round")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        serve(options.serve[0], int(options.serve[1]), Path(options.serve[2]))
        return
    if shutil.which("wrk") is None:  # make bench runs every bench: skip, do not stop it
        print("skipped: needs wrk (apt-get install -y wrk)")
        return
    watch = LoadWatch()
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    micros: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with temporary_folder("tally-hitlog-split-") as folder:
        script = folder / "tracking.lua"
        script.write_text(WRK_TRACKING)
        servers = {name: start(kind, folder) for name, kind in VARIANTS.items()}
        try:
            for _, port in servers.values():
                wait_until_up(port)
            for _ in range(options.rounds):
                for name, (server, port) in servers.items():
                    before = cpu_seconds(server.pid)
                    done, elapsed = wrk_round(port, "/matomo.php", options.seconds, script)
                    rates[name].append(done / elapsed)
                    micros[name].append((cpu_seconds(server.pid) - before) / done * 1e6)
        finally:
            for server, _ in servers.values():
                server.terminate()
                server.wait()
        synced = {
            kind: json.loads((folder / f"{kind}.json").read_text())
            for kind in ("hitlog", "nodelay")
            if (folder / f"{kind}.json").exists()
        }
    watch.finish()
    print(
        f"\n{options.rounds} alternating rounds of {options.seconds:g} s, wrk 64 connections, "
        "page-view requests:"
    )
    print(
        f"  {'variant':<30} {'requests/s (median)':>20} {'server CPU µs/request min / median':>36}"
    )
    for name, kind in VARIANTS.items():
        counts = synced.get(kind)
        per_sync = (
            f"  ({counts['records'] / max(1, counts['batches']):.0f} per sync)" if counts else ""
        )
        print(
            f"  {name:<30} {statistics.median(rates[name]):>20,.0f} "
            f"{min(micros[name]):>25.1f} / {statistics.median(micros[name]):.1f}{per_sync}"
        )


if __name__ == "__main__":
    main()
