"""What the benches share (issue 27): ports from the OS, temporary files that go away, each
thread's CPU, the load average printed before and after, and no "met" on a machine that was
busier than its cores during the run.

A shared machine's load decides wall-clock figures more than the code does, so a bench that
saw the load average rise above the number of cores prints its figures with a warning and
never the word "met" (a reader cannot tell a met target from a lucky quiet second).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def thread_seconds() -> dict[str, float]:
    """CPU seconds each thread of this process has run so far (Linux schedstat)."""
    found = {}
    for thread in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{thread}/schedstat") as stat:
                found[thread] = int(stat.read().split()[0]) / 1e9
        except OSError:  # the thread ended meanwhile
            continue
    return found


def free_port() -> int:
    """A port the OS says is free now (bind to 0, read it back)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def scalar(connection: Any, sql: str, parameters: list[Any] | None = None) -> Any:
    """The first value of the query's one row (a count, a sum); a query that returned no
    row is an error, not a None to index. ``connection``: DuckDB's or psycopg's."""
    row = connection.execute(sql, parameters).fetchone()
    if row is None:
        raise RuntimeError(f"no row from: {sql}")
    return row[0]


@contextmanager
def temporary_folder(prefix: str) -> Iterator[Path]:
    """A fresh folder under the system's temporary directory, removed whatever happens;
    says how much was in it, so a bench that leaks elsewhere is noticed."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    # A bench stopped with SIGTERM (kill PID) unwinds like Ctrl-C, so the folder still goes.
    signal.signal(signal.SIGTERM, _exit_on_terminate)
    try:
        yield folder
    finally:
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        print(f"temporary files: {size / 1e6:.1f} MB in {folder}, removed")


def _exit_on_terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


class LoadWatch:
    """The 1-minute load average at the start, its peak (sampled every second) and at the end."""

    def __init__(self) -> None:
        self.cores = os.cpu_count() or 1
        self.before = os.getloadavg()
        self.peak = self.before[0]
        self.after: tuple[float, float, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        print(f"load average before: {_triple(self.before)} ({self.cores} cores)")

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            self.peak = max(self.peak, os.getloadavg()[0])

    def finish(self) -> None:
        self._stop.set()
        self._thread.join()
        self.after = os.getloadavg()
        self.peak = max(self.peak, self.after[0])
        print(f"load average after: {_triple(self.after)}; peak during the run {self.peak:.2f}")
        if self.busy:
            print(
                f"WARNING: the load average rose above {self.cores} (the number of cores) "
                "during the run: the figures are busy figures, and no target is called met"
            )

    @property
    def busy(self) -> bool:
        return self.peak > self.cores

    def verdict(self, met: bool) -> str:
        """ "met", "not met", or, when the run was busy, the figure's side without "met"."""
        if not met:
            return "not met"
        if self.busy:
            peak, cores = f"{self.peak:.1f}", self.cores
            return f"reached on these figures, but busy (load {peak} > {cores} cores): not claimed"
        return "met"


def _triple(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in load)
