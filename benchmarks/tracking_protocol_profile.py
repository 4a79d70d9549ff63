"""Where a page view's time goes on the event loop, answered by tally's HTTP protocol
(``tally.server.tracking_protocol``): the endpoint and its hit log on uvicorn in this
process under cProfile, driven by ``wrk`` (64 connections, each request a different page
view, tracking_bench's Lua script) for a few seconds; prints the functions with the most
own time per request. cProfile slows Python calls, so the shares matter, not the totals.
The hit log's sync helper process syncs the batches (not profiled: the loop's part is the
batch's ``write``, the byte sent with ``sendmsg`` and the answer's ``recv``);
``--no-helper`` profiles the loop syncing them itself (``posix.fdatasync``; batches its
writer thread syncs on a slow disk are not profiled).

Usage: PYTHONPATH=src python benchmarks/tracking_protocol_profile.py [--seconds S]
    [--no-helper]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import socket
import subprocess
import threading
import time
from pathlib import Path

import uvicorn
from hygiene import LoadWatch, temporary_folder
from tracking_bench import WRK_TRACKING


async def _yes(_value: object) -> bool:
    return True


def main() -> None:
    from tally.server.tracking_protocol import tracking_protocol
    from tally.web.hitlog import HitLog
    from tally.web.tracking import TrackingEndpoint

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-helper", action="store_true", help="the loop syncs")
    arguments = parser.parse_args()
    watch = LoadWatch()
    with temporary_folder("tally-protocol-profile-") as folder:
        hitlog = HitLog(folder / "log", 1 << 30, sync_helper=not arguments.no_helper)
        hitlog.start()
        endpoint = TrackingEndpoint(
            hitlog, site_exists=_yes, token_valid=_yes, site_known=lambda _site: True
        )
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        port = listening.getsockname()[1]
        config = uvicorn.Config(
            endpoint,
            http=tracking_protocol(endpoint),
            access_log=False,
            lifespan="off",
            log_level="warning",
            proxy_headers=False,
        )
        server = uvicorn.Server(config)
        script = Path(folder) / "tracking.lua"
        script.write_text(WRK_TRACKING)
        done: list[str] = []

        def drive() -> None:
            while not server.started:
                time.sleep(0.05)
            command = ["wrk", "-t1", "-c64", f"-d{arguments.seconds:g}s", "-s", str(script)]
            url = f"http://127.0.0.1:{port}/matomo.php"
            done.append(subprocess.run([*command, url], capture_output=True, text=True).stdout)
            server.should_exit = True

        driver = threading.Thread(target=drive)
        driver.start()
        profile = cProfile.Profile()
        profile.runcall(server.run, sockets=[listening])
        driver.join()
        hitlog.close()
    requests = endpoint.stats.accepted
    print(done[0])
    print(f"{requests:,} page views answered; {hitlog.records / max(1, hitlog.batches):.1f} a sync")
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(18)
    own = stats.stats  # type: ignore[attr-defined]
    # the loop's epoll wait is idle time, not work
    busy = sum(entry[2] for key, entry in own.items() if "poll" not in key[2])
    print(f"event loop thread, profiled, less epoll: {busy / max(1, requests) * 1e6:.1f} µs a hit")
    print(out.getvalue())
    watch.finish()


if __name__ == "__main__":
    main()
