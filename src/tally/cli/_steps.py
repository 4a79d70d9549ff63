"""Progress of a command's long steps: rich's live display on a terminal, plain lines elsewhere.

A log file or CI output gets one line when a step starts and one when it ends (with its time),
never the escape codes of a redrawn bar.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class Steps:
    """Named steps, each with an optional count of items; a context manager."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}
        self.started: dict[str, float] = {}

    def __enter__(self) -> Steps:
        if self.live:
            self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.live:
            self.progress.stop()

    def start(self, step: str, total: int | None = None) -> None:
        self.started[step] = time.monotonic()
        if self.live:
            self.tasks[step] = self.progress.add_task(step, total=total)
        else:
            count = f" ({total:,} parts)" if total else ""
            self.console.print(f"{step}: started{count}", highlight=False)

    def advance(self, step: str) -> None:
        if self.live and step in self.tasks:
            self.progress.advance(self.tasks[step])

    def finish(self, step: str, detail: str = "") -> None:
        seconds = time.monotonic() - self.started.get(step, time.monotonic())
        note = f", {detail}" if detail else ""
        if self.live and step in self.tasks:
            task = self.tasks[step]
            total = self.progress.tasks[task].total
            self.progress.update(task, completed=total or 1, total=total or 1)
            self.progress.update(task, description=f"{step}{note}")
        else:
            self.console.print(f"{step}: done in {seconds:.1f} s{note}", highlight=False)


def status_lines(
    console: Console, describe: Callable[[], str], every: float, stop: threading.Event
) -> threading.Thread:
    """A daemon thread printing ``describe()`` every ``every`` seconds until ``stop`` is set:
    the status a long-running command gives a log or a pipe, where no live line redraws."""

    def loop() -> None:
        while not stop.wait(every):
            try:
                line = describe()
            except Exception as error:  # a status line must never stop the command
                line = f"status unavailable: {error}"
            console.print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}", highlight=False)

    thread = threading.Thread(target=loop, name="tally-status", daemon=True)
    thread.start()
    return thread
