"""Reporting API calls on threads of their own, with a time limit and cancellation.

A report can be costly (a long period, a segment at its limit), and before this module
every call ran in asyncio's default thread pool (six threads on two cores), where the
site-list refresh of tracking and the password check of login also run: eight heavy calls
left ``/matomo.php`` unanswered for 10 s. Now:

- calls run in ``[server] report_workers`` threads of their own; more calls wait for one;
- each thread has its own warehouse connection (a DuckDB cursor, a pooled PostgreSQL
  connection: the backends' sessions), so a report holds no lock tracking or login takes;
- each statement runs under the warehouse's interactive limit
  (``warehouse.interactive_timeout_seconds``: PostgreSQL's statement_timeout, a DuckDB
  interrupt), and the whole call under ``[server] report_timeout_seconds`` counted from its
  arrival: a call past it, or whose client has disconnected, has its query interrupted
  (DuckDB ``interrupt()``, PostgreSQL's cancel request) and answers 503; the thread is
  free again at once;
- shutdown interrupts every running call instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.requests import Request

from tally.config import Settings
from tally.errors import QueryTimeoutError
from tally.server.settings import ServerSettings
from tally.warehouse import Warehouse

logger = logging.getLogger(__name__)
INTERRUPT_EVERY = 0.05  # seconds between interrupts until the call's thread gives up
SWITCH_INTERVAL = 0.001
REPORT_NICENESS = 10  # report threads yield the CPU to tracking under load


class ReportRunner:
    """``await runner(request, function)``: ``function(warehouse)`` on a report thread."""

    def __init__(self, settings: Settings, warehouse: Warehouse) -> None:
        self.timeout = settings.section(ServerSettings).report_timeout_seconds
        self.warehouse = warehouse
        self.executor = ThreadPoolExecutor(
            max_workers=settings.section(ServerSettings).report_workers,
            thread_name_prefix="tally-report",
            initializer=_lower_priority,
        )
        # A report thread busy in Python holds the GIL for up to the switch interval before
        # the event loop (every tracking request) may run; 5 ms by default, 1 ms here.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self.running: set[ReportCall] = set()
        self.interrupted = 0  # calls stopped by the time limit, a disconnect or shutdown
        self.stopping = False

    async def __call__(self, request: Request, function: Callable[[Warehouse], object]) -> object:
        if self.stopping:
            raise QueryTimeoutError("the server is stopping; try again shortly")
        call = ReportCall(self.warehouse)
        self.running.add(call)
        work = asyncio.wrap_future(self.executor.submit(call.run, function))
        work.add_done_callback(lambda _done: self.running.discard(call))
        left = asyncio.create_task(_client_left(request))
        try:
            waited: set[asyncio.Future[Any]] = {work, left}
            done, _ = await asyncio.wait(
                waited, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if work in done:
                return work.result()
            reason = (
                "the client disconnected"
                if left in done
                else f"the report ran past report_timeout_seconds ({self.timeout:g} s)"
            )
            self._stop(call, work)
            raise QueryTimeoutError(f"{reason}; its query was interrupted")
        except asyncio.CancelledError:  # the server is shutting down
            self._stop(call, work)
            raise
        finally:
            left.cancel()

    def _stop(self, call: ReportCall, work: asyncio.Future[object]) -> None:
        self.interrupted += 1
        work.add_done_callback(_quiet)  # its InterruptException is expected, not news
        asyncio.get_running_loop().run_in_executor(None, call.cancel_until_done)

    def stop_all(self) -> None:
        """Interrupt every running call (each answers 503 at once); the server calls this
        when a stop is asked, before it waits for open requests; new calls answer 503."""
        self.stopping = True
        for call in list(self.running):
            call.cancelled = True
            threading.Thread(target=call.cancel_until_done, daemon=True).start()

    def close(self) -> None:
        """Interrupt every running call and let the threads go (no waiting for reports)."""
        self.stop_all()
        self.executor.shutdown(wait=False, cancel_futures=True)


class ReportCall:
    """One call's warehouse connection, so that another thread can interrupt its query."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.connection: Any = None
        self.cancelled = False
        self.finished = threading.Event()

    def run(self, function: Callable[[Warehouse], object]) -> object:
        try:
            if self.cancelled:  # it waited for a thread past its time
                raise QueryTimeoutError("the report was cancelled before it started")
            warehouse = self.warehouse
            try:
                with warehouse.session() as connection, warehouse.interactive():
                    self.connection = connection
                    _quiet_progress(connection)
                    if self.cancelled:
                        raise QueryTimeoutError("the report was cancelled")
                    return function(warehouse)
            except Exception as error:
                if self.cancelled:
                    raise QueryTimeoutError(f"the report was interrupted ({error})") from None
                raise
            finally:
                self.connection = None
        finally:
            self.finished.set()

    def cancel(self) -> None:
        """Interrupt the query running now (a no-op between queries: see cancel_until_done)."""
        self.cancelled = True
        connection = self.connection
        if connection is None:
            return
        try:
            if hasattr(connection, "interrupt"):  # DuckDB
                connection.interrupt()
            elif hasattr(connection, "cancel_safe"):  # psycopg 3.2+
                connection.cancel_safe(timeout=2.0)
            elif hasattr(connection, "cancel"):
                connection.cancel()
        except Exception as error:  # the connection closed meanwhile: nothing to stop
            logger.debug("report interrupt: %s", error)

    def cancel_until_done(self, most_seconds: float = 60.0) -> None:
        """Interrupt again and again until the call's thread returns: a report runs many
        queries, and an interrupt that lands between two of them stops none."""
        deadline = time.monotonic() + most_seconds
        while not self.finished.is_set() and time.monotonic() < deadline:
            self.cancel()
            self.finished.wait(INTERRUPT_EVERY)


async def _client_left(request: Request) -> None:
    """Return once the client has disconnected (the body, if any, is read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _quiet_progress(connection: Any) -> None:
    """No progress bar: DuckDB draws one on the server's terminal for a query past 2 s."""
    if hasattr(connection, "interrupt"):  # DuckDB; the setting is this connection's own
        with contextlib.suppress(Exception):
            connection.execute("SET enable_progress_bar = false")


def _lower_priority() -> None:
    """Make this report thread nicer than the event loop (Linux schedules threads one by
    one, so this leaves the rest of the process alone)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), REPORT_NICENESS)


def _quiet(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()  # marks it retrieved
