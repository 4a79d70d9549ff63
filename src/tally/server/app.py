"""The one ASGI application ``tally serve`` runs.

Public: ``/matomo.php`` and ``/piwik.php`` (tracking), ``/tally.js`` and ``/matomo.js`` (the
tracker script), ``/health``. Everything under ``/api`` and Matomo's Reporting API at
``/index.php`` (and at ``/``, as Matomo serves it) need an API token. While the app
runs, the hit-log writer is open and a background task loads the log into ``web.hits``
every ``web.load_interval_seconds``; the warehouse is opened only for each load or lookup.

Reporting API calls run on threads of their own (``tally.server.reports``), so tracking's
site and token lookups and the login's checks, which run in asyncio's default threads,
never queue behind them; every thread has its own warehouse connection (the backends'
sessions), so neither waits for another's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Hashable
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from tally.config import Settings
from tally.errors import QueryTimeoutError, TallyError
from tally.pipeline.ledger import abandon_dead_steps
from tally.server import ui
from tally.server.auth import RequireToken, TokenStore
from tally.server.reports import ReportRunner
from tally.server.scheduling import start_scheduler
from tally.warehouse import Warehouse, connect, from_settings
from tally.web.hitlog import HitLog
from tally.web.hitstream import HitStream
from tally.web.loader import (
    LoadResult,
    load_hits,
    sessionize_alone,
    start_preparer,
    stop_preparer,
)
from tally.web.lookup import CachedSet
from tally.web.streamload import StreamLoader, StreamLoadResult

if TYPE_CHECKING:
    from tally.stream.engine import Engine
from tally.web.reporting import routes as reporting_routes
from tally.web.sites import site_timezones
from tally.web.tracking import PATHS as TRACKING_PATHS
from tally.web.tracking import TrackingEndpoint

logger = logging.getLogger(__name__)

TRACKER_SCRIPT = Path(__file__).resolve().parent.parent / "web" / "static" / "tally.js"


def create_app(
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    run_loader: bool = True,
    stream: bool = True,
) -> TallyApp:
    """Build the app; the hit log opens and the loader starts when the app starts.

    ``stream=False`` leaves out the real-time routes (and does not start their engine).
    """
    store = warehouse or from_settings(settings, migrate=False)  # migrated at start-up
    hitlog: HitLog | HitStream = (
        HitStream(settings.web)
        if settings.web.hit_log_url
        else HitLog(settings.web.hit_log_dir, settings.web.segment_bytes)
    )
    run_loader = run_loader and settings.web.serve_loads
    tokens = TokenStore(store)
    sites = CachedSet(lambda: _site_ids(store))
    tracking = TrackingEndpoint(
        hitlog, site_exists=sites.contains, token_valid=tokens.may_track, site_known=sites.known
    )
    reports = ReportRunner(settings, store)
    load = _Loader(store, settings, hitlog)

    async def tracking_stats(_request: Request) -> Response:
        log = {"synced_batches": hitlog.batches, "synced_records": hitlog.records}
        if isinstance(hitlog, HitLog):  # where the batches were synced (web/hitlog.py)
            log |= {
                "helper_batches": hitlog.helper_batches,
                "loop_batches": hitlog.inline_batches,
                "handoffs": hitlog.handoffs,
            }
        return JSONResponse({**tracking.stats.as_dict(), "hit_log": log})

    async def load_now(_request: Request) -> Response:
        return JSONResponse((await load()).as_dict())

    engine, stream_routes = _stream(settings) if stream else (None, [])
    api_routes: list[BaseRoute] = [
        Route("/tracking/stats", tracking_stats),
        Route("/tracking/load", load_now, methods=["POST"]),
        *stream_routes,
    ]
    routes: list[BaseRoute] = [
        *tracking.routes(),
        Route("/tally.js", tracker_script),
        Route("/matomo.js", tracker_script),
        Route("/piwik.js", tracker_script),
        Route("/health", health),
        # Matomo's Reporting API lives at /index.php (where its clients call it); its routes
        # check token_auth themselves, GET or POST, as Matomo does
        *reporting_routes(settings, tokens.access, warehouse=store, run=reports),
        Mount("/api", app=RequireToken(Router(api_routes), tokens, admin=True)),
        # The dashboards, the login form and their static files (login required)
        *ui.routes(settings),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(store.migrate)
        await asyncio.to_thread(abandon_dead_steps, store)  # steps of killed processes
        notice = await asyncio.to_thread(ui.startup_notice, store)
        if notice:  # nobody can log in to the dashboards yet
            logger.warning(notice)
        hitlog.start()
        stop = asyncio.Event()
        if run_loader:
            load.start()
        loader = asyncio.create_task(_load_until(stop, load)) if run_loader else None
        scheduler = start_scheduler(settings, store)  # None unless server.scheduler is on
        try:
            yield
        finally:
            reports.close()  # running reports are interrupted, not waited for
            if scheduler is not None:  # a job in progress finishes its step first
                await asyncio.to_thread(scheduler.stop)
            # A load in progress finishes (its thread cannot be cancelled); then the log
            # closes and one last load takes what is left.
            stop.set()
            if loader is not None:
                await loader
            hitlog.close()
            if run_loader:
                await _logged(load)
            load.close()
            if engine is not None:  # its last checkpoint, before the data dir may go away
                await asyncio.to_thread(engine.stop)

    app = TallyApp(
        routes=routes,
        lifespan=lifespan,
        middleware=ui.middleware(settings),
        exception_handlers={QueryTimeoutError: ui.busy_page},
    )
    app.tracking = tracking
    app.state.hitlog = hitlog
    app.state.warehouse = store
    app.state.ui_tokens = tokens
    app.state.reports = reports
    app.state.stream_engine = engine  # its input counters go to /metrics
    return app


def sibling(store: Warehouse) -> Warehouse:
    """Another warehouse object on the same database, with its own connection and lock, so
    that work on it never queues behind work on ``store`` (an in-memory DuckDB has no
    second view: ``store`` itself)."""
    if getattr(store, "path", None) in ("", ":memory:"):
        return store
    # the registry opens the same backend again from the URL (Redshift stays Redshift)
    return connect(store.url, getattr(store, "lock_wait_seconds", 60.0))


class TallyApp(Starlette):
    """Starlette, except that tracking requests go straight to the tracking endpoint.

    They are public and need no session, login wall or router, and they are most of the
    traffic: in front of the middleware a hit costs about half the CPU it did behind it
    (benchmarks/README.md). The endpoint is also among the routes, for any other caller.
    """

    tracking: TrackingEndpoint | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # /matomo.php and /piwik.php are what matomo_path leaves as they are: checked
            # first, they skip it
            if scope["path"] not in TRACKING_PATHS:
                scope = matomo_path(scope)
            if self.tracking is not None and scope["path"] in TRACKING_PATHS:
                await self.tracking(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def matomo_path(scope: Scope) -> Scope:
    """The request as Matomo's server would route it.

    A client configured with a trailing slash (``import_logs.py --url=http://host/``) asks
    for ``//piwik.php`` and ``//``: leading slashes count as one. Matomo serves its Reporting
    API at ``/`` as well as ``/index.php`` (index.php is the directory's default page), so
    ``/`` with ``module=API`` in the query, or any POST to ``/`` (how the log importer
    calls it, parameters in the form body), goes to the Reporting API; a plain GET of ``/``
    stays the dashboard's home page.
    """
    path = scope["path"]
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if path == "/" and (scope.get("method") == "POST" or b"module=API" in scope["query_string"]):
        path = "/index.php"
    if path == scope["path"]:
        return scope
    return {**scope, "path": path, "raw_path": path.encode()}


async def tracker_script(_request: Request) -> Response:
    if not TRACKER_SCRIPT.exists():
        return PlainTextResponse(
            "tally.js is not built into this installation (src/tally/web/static/tally.js)",
            status_code=404,
        )
    return FileResponse(
        TRACKER_SCRIPT,
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
    )


async def health(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _site_ids(warehouse: Warehouse) -> set[Hashable]:
    ids: set[Hashable] = set(site_timezones(warehouse))
    return ids


class _Loader:
    """Runs ``load_hits`` in a worker thread, one load at a time (the exactly-once bookkeeping
    assumes a single loader per hit log); with a JetStream hit log, a ``StreamLoader``
    (any number of them may run, in any processes)."""

    def __init__(
        self, warehouse: Warehouse, settings: Settings, hitlog: HitLog | HitStream
    ) -> None:
        self.warehouse = warehouse
        self.settings = settings
        self.hitlog = hitlog
        self.lock = asyncio.Lock()
        self.stream: StreamLoader | None = None
        self.preparing = False  # this server started the loader's child process

    async def __call__(self) -> LoadResult | StreamLoadResult:
        async with self.lock:
            return await asyncio.to_thread(self._load_and_sessionize)

    def start(self) -> None:
        """Start the child process that prepares the hit log's batches (it warms up while
        the server starts; every load then parses its hits there, off the server's GIL)."""
        web = self.settings.web
        if not web.hit_log_url and web.serve_preparer and web.load_process_bytes:
            self.preparing = True
            start_preparer()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self.preparing:
            self.preparing = False
            stop_preparer()

    def _load(self) -> LoadResult | StreamLoadResult:
        if not self.settings.web.hit_log_url:
            return load_hits(self.warehouse, self.settings, durable=self.hitlog.durable)
        if self.stream is None:
            self.stream = StreamLoader(self.warehouse, self.settings).start()
        return self.stream.load()

    def _load_and_sessionize(self) -> LoadResult | StreamLoadResult:
        """Load new hits, then rebuild the visits of the site-days they touched, so the
        reports and dashboards stay current without a separate job."""
        result = self._load()
        if result.loaded:
            sessionize_alone(self.warehouse, self.settings)
        return result


async def _load_until(stop: asyncio.Event, load: _Loader) -> None:
    """Load every ``web.load_interval_seconds`` until ``stop`` is set."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), load.settings.web.load_interval_seconds)
        if not stop.is_set():
            await _logged(load)


async def _logged(load: _Loader) -> None:
    """One load; failures are logged and left for the next round."""
    try:
        result = await load()
    except TallyError as error:  # a busy warehouse: the next round tries again
        logger.warning("hit loader: %s", error)
        return
    except Exception:
        logger.exception("hit loader failed; retrying next round")
        return
    if result.loaded or result.quarantined:
        logger.info("hit loader: %s", result.as_dict())


def _stream(settings: Settings) -> tuple[Engine, list[BaseRoute]]:
    """The real-time engine, started, and its routes (``POST /api/events``, alerts, silences,
    rules) inside ``/api``.

    The app's shutdown stops the engine; ``build_engine`` also arranges a stop at process
    exit for an app that never ran its lifespan.
    """
    from tally.stream.http import build_engine, routes

    engine = build_engine(settings)
    return engine, list(routes(engine, prefix=""))
