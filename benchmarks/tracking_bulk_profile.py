"""Where a bulk hit's time goes, in process: tracking_bench's bulk body (``size`` page views,
each a different query) sent straight to ``TrackingEndpoint`` as an ASGI call, logged to a
real ``HitLog`` in a temporary folder (``fdatasync`` per bulk, on the event loop while
syncs are fast, else on its writer thread: without the sync helper process, whose CPU
this process's clock would not see).

Prints the process's CPU microseconds per hit and hits per CPU-second over ``bulks`` calls
(no HTTP: the endpoint's own work, from the JSON body to the framed records and the JSON
answer), then, with ``--profile``, the functions with the most own time under cProfile
(which slows Python calls, so the shares matter, not the totals).

Usage: PYTHONPATH=src python benchmarks/tracking_bulk_profile.py [--bulks N] [--size S]
[--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import time
from collections.abc import MutableMapping
from typing import Any

from hygiene import LoadWatch, temporary_folder
from tracking_bench import tracking_query


async def _site_exists(idsite: int) -> bool:
    return idsite == 1


async def _no_token(_token: str) -> bool:
    return False


async def _run(folder: Any, bulks: int, size: int, profile: cProfile.Profile | None) -> float:
    """CPU seconds the process spent over ``bulks`` bulk calls."""
    from tally.web.hitlog import HitLog
    from tally.web.tracking import TrackingEndpoint

    body = json.dumps({"requests": ["?" + tracking_query(i) for i in range(size)]}).encode()
    log = HitLog(folder, 1 << 30, sync_helper=False)  # every sync in this process
    log.start()
    endpoint = TrackingEndpoint(log, site_exists=_site_exists, token_valid=_no_token)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/matomo.php",
        "query_string": b"",
        "client": ("127.0.0.1", 5000),
        "headers": [
            (b"user-agent", b"bench/1.0"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    started = time.process_time()
    for _ in range(bulks):
        if profile is not None:
            profile.enable()
        await endpoint(scope, receive, send)
        if profile is not None:
            profile.disable()
    spent = time.process_time() - started
    log.close()
    if sent[-2]["status"] != 200 or json.loads(sent[-1]["body"])["tracked"] != size:
        raise SystemExit(f"bulk failed: {sent[-1]}")
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bulks", type=int, default=40)
    parser.add_argument("--size", type=int, default=2_500)
    parser.add_argument("--profile", action="store_true")
    arguments = parser.parse_args()
    watch = LoadWatch()
    profile = cProfile.Profile() if arguments.profile else None
    with temporary_folder("tally-bulk-profile-") as folder:
        spent = asyncio.run(_run(folder, arguments.bulks, arguments.size, profile))
    hits = arguments.bulks * arguments.size
    print(
        f"{arguments.bulks} x {arguments.size:,} hits: {spent / hits * 1e6:.2f} us of CPU a hit, "
        f"{hits / spent:,.0f} hits per CPU-second"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
    watch.finish()


if __name__ == "__main__":
    main()
