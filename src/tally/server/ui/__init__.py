"""The dashboards: subscriptions, web analytics and ELT monitoring, behind a login.

The app mounts ``routes(settings)`` and wraps itself in ``middleware(settings)`` (sessions,
then the login wall). Pages read the warehouse of ``app.state.warehouse``. plotly.js is served
from the installed plotly package, so nothing comes from a CDN.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
from pathlib import Path

import plotly
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tally.config import Settings
from tally.server.ui import access, admin, elt, login, seed_reports, subscriptions, webpages
from tally.server.users import FIRST_ADMIN_HINT, has_users
from tally.warehouse import Warehouse

__all__ = ["busy_page", "middleware", "routes", "startup_notice"]

STATIC = Path(__file__).resolve().parent / "static"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
_LONG_CACHE = {"Cache-Control": "public, max-age=86400"}


@functools.cache
def _plotly_gzip() -> bytes:
    """plotly.min.js gzipped once per process: 4.8 MB becomes about 1.4 MB on the wire."""
    return gzip.compress(PLOTLY_JS.read_bytes(), compresslevel=6)


async def plotly_script(request: Request) -> Response:
    if "gzip" not in request.headers.get("accept-encoding", ""):
        return FileResponse(PLOTLY_JS, media_type="application/javascript", headers=_LONG_CACHE)
    body = await asyncio.to_thread(_plotly_gzip)
    headers = {**_LONG_CACHE, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
    return Response(body, media_type="application/javascript", headers=headers)


async def home(_request: Request) -> Response:
    return RedirectResponse("/subscriptions", status_code=303)


def routes(settings: Settings) -> list[BaseRoute]:
    """Every dashboard route, the login form and the static files."""
    from tally.server.metrics import routes as metrics_routes

    return [
        Route("/", home),
        *login.routes(),
        *elt.routes(settings),
        *subscriptions.routes(settings),
        *seed_reports.routes(settings),
        *webpages.routes(),
        *admin.routes(),
        *metrics_routes(settings),
        Route(f"{access.STATIC_PREFIX}plotly.min.js", plotly_script),
        Mount(access.STATIC_PREFIX.rstrip("/"), app=StaticFiles(directory=STATIC), name="ui"),
    ]


async def busy_page(request: Request, error: Exception) -> Response:
    """A dashboard page whose queries ran past the interactive limit (or the server is
    stopping): 503 with the reason, never a stack trace. The Reporting API answers its own
    timeouts in Matomo's error format before they get here."""
    from tally.server.ui.render import page

    return page(
        request,
        "message.html",
        title="This page took too long",
        message=f"{error} Try a shorter period or a simpler segment.",
        status_code=503,
    )


def middleware(settings: Settings) -> list[Middleware]:
    """Sessions and the login wall; give to ``Starlette(middleware=...)``."""
    return access.middleware(settings)


def startup_notice(warehouse: Warehouse) -> str | None:
    """What ``tally serve`` should print when nobody can log in yet."""
    return None if has_users(warehouse) else FIRST_ADMIN_HINT
