"""What holding Python's garbage collector saves while a Reporting API answer is built.

``web.reporting.api.call`` used to switch the cyclic collector off for the whole process
while it answered; the tracking threads share that process. This bench measures the cost
of leaving it on: it builds an answer shaped like a year's UsersFlow (1.6M next-page dicts
grouped by step and page, the largest answer the API gives) with the collector on and off,
interleaved, and prints the CPU seconds of each (process time, so other processes on a
busy machine do not count), their medians and the ratio, with the load average before and
after.

    PYTHONPATH=src python benchmarks/gc_bench.py [--rows 1600000] [--runs 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from typing import Any


def build(rows: int) -> dict[int, dict[str, Any]]:
    """Step -> page -> its next pages, as UsersFlow's ``_built`` makes them."""
    flows: dict[int, dict[str, Any]] = {}
    for index in range(rows):
        step, page = index % 10, index % 5000
        pages = flows.setdefault(step, {})
        found = pages.setdefault(f"/page/{page}", [])
        found.append({"label": f"/page/{index % 7919}", "nb_visits": index % 97 + 1})
    return flows


def timed(rows: int, collector: bool) -> float:
    gc.collect()
    (gc.enable if collector else gc.disable)()
    started = time.process_time()
    answer = build(rows)
    spent = time.process_time() - started
    gc.enable()
    del answer
    gc.collect()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_600_000)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.1f}; {arguments.rows:,} dicts")
    on: list[float] = []
    off: list[float] = []
    for _ in range(arguments.runs):
        on.append(timed(arguments.rows, collector=True))
        off.append(timed(arguments.rows, collector=False))
    print("collector on : " + " ".join(f"{s:.2f}" for s in on))
    print("collector off: " + " ".join(f"{s:.2f}" for s in off))
    median_on, median_off = statistics.median(on), statistics.median(off)
    print(
        f"median CPU s: on {median_on:.2f}, off {median_off:.2f}; "
        f"cost of leaving it on {median_on - median_off:.2f} s ({median_on / median_off:.2f}x)"
    )
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
