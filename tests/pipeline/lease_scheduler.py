"""A ``tally scheduler`` loop as a process of its own, for kill -9 tests of the lease.

    python -m tests.pipeline.lease_scheduler NATS_URL BUCKET LEASE_SECONDS STEP_LOG NAME

The real ``scheduler.run_forever`` and ``Leadership`` (lease in the key-value bucket
BUCKET); only the step is a stand-in: whenever ``run_due`` is called and ``may_start``
says yes, a 0.3 s "step" is run, its start and end appended to STEP_LOG as
``start|end NAME <time.time()>`` (one ``os.write`` each, O_APPEND). Runs until SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

from tally.config import load_settings
from tally.pipeline import scheduler
from tally.pipeline.leadership import Leadership


def main(url: str, bucket: str, lease: float, log: str, name: str) -> None:
    class InBucket(Leadership):
        def __init__(self, url: str, seconds: float) -> None:
            super().__init__(url, seconds, bucket=bucket)

    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(what: str) -> None:
        os.write(descriptor, f"{what} {name} {time.time():.6f}\n".encode())

    def run_due(_context: Any, *, catch_up_days: int, may_start: Any) -> list[Any]:  # noqa: ARG001
        if may_start():
            note("start")
            time.sleep(0.3)
            note("end")
        return []

    scheduler.Leadership = InBucket  # type: ignore[misc]
    scheduler.run_due = run_due  # type: ignore[assignment]
    scheduler.abandon_dead_steps = lambda _warehouse: 0  # type: ignore[assignment]
    scheduler.next_firing = lambda _settings, _now: None  # type: ignore[assignment]
    settings = load_settings(environ={})
    context = type("Context", (), {"settings": settings, "warehouse": None})()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler.run_forever(context, stop, 0.05, lease=(url, lease))  # type: ignore[arg-type]


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5])
