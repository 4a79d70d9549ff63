"""The daily-job scheduler inside ``tally serve``, when ``server.scheduler`` is on.

``tally.pipeline.scheduler.run_forever`` runs in a thread of its own (each job is blocking
warehouse work); the app starts it with the app and stops it on shutdown, letting a job in
progress finish its step. Off by default, so a test app or a second server never starts
jobs by surprise; `tally scheduler` is the same loop in the foreground.
"""

from __future__ import annotations

import logging
import threading

from tally.config import Settings
from tally.lake import Lake
from tally.pipeline.context import Context
from tally.pipeline.scheduler import ScheduledRun, run_forever
from tally.server.settings import ServerSettings
from tally.warehouse import Warehouse

logger = logging.getLogger(__name__)


class SchedulerThread:
    """``run_forever`` in a daemon thread; ``stop`` asks it to end and waits for it."""

    def __init__(
        self,
        context: Context,
        poll_seconds: float = 60.0,
        lease: tuple[str, float] | None = None,
    ) -> None:
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self._run,
            args=(context, poll_seconds, lease),
            name="tally-scheduler",
            daemon=True,
        )

    def _run(self, context: Context, poll_seconds: float, lease: tuple[str, float] | None) -> None:
        try:
            run_forever(context, self.stopping, poll_seconds, _log, lease=lease)
        except Exception:  # the server keeps serving; the log says why jobs stopped
            logger.exception("the scheduler stopped")

    def start(self) -> SchedulerThread:
        self.thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self.stopping.set()
        self.thread.join(timeout)


def _log(run: ScheduledRun) -> None:
    logger.info("scheduled %s %s: %s %s", run.source, run.day, run.status, run.detail)


def start_scheduler(settings: Settings, warehouse: Warehouse) -> SchedulerThread | None:
    """Start the scheduler when ``server.scheduler`` is on; ``None`` when it is off."""
    if not settings.section(ServerSettings).scheduler:
        return None
    options = {}
    if settings.lake_url.startswith("s3://") and settings.s3_endpoint_url:
        options["client_kwargs"] = {"endpoint_url": settings.s3_endpoint_url}
    context = Context(settings, warehouse, Lake(settings.lake_url, options))
    server = settings.section(ServerSettings)
    return SchedulerThread(context, server.scheduler_poll_seconds, server.scheduler_lease()).start()
