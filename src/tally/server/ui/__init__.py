"""The dashboards: subscriptions, web analytics and ELT monitoring, behind a login.

The app mounts ``routes(settings)`` and wraps itself in ``middleware(settings)`` (sessions,
then the login wall). Pages read the warehouse of ``app.state.warehouse``. plotly.js is served
from the installed plotly package, so nothing comes from a CDN.
"""

from __future__ import annotations

from pathlib import Path

import plotly
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tally.config import Settings
from tally.server.ui import access, elt, login, subscriptions, webpages
from tally.server.users import FIRST_ADMIN_HINT, has_users
from tally.warehouse import Warehouse

__all__ = ["middleware", "routes", "startup_notice"]

STATIC = Path(__file__).resolve().parent / "static"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
_LONG_CACHE = {"Cache-Control": "public, max-age=86400"}


async def plotly_script(_request: Request) -> Response:
    return FileResponse(PLOTLY_JS, media_type="application/javascript", headers=_LONG_CACHE)


async def home(_request: Request) -> Response:
    return RedirectResponse("/subscriptions", status_code=303)


def routes(settings: Settings) -> list[BaseRoute]:
    """Every dashboard route, the login form and the static files."""
    from tally.server.metrics import routes as metrics_routes

    return [
        Route("/", home),
        *login.routes(),
        *elt.routes(),
        *subscriptions.routes(settings),
        *webpages.routes(),
        *metrics_routes(),
        Route(f"{access.STATIC_PREFIX}plotly.min.js", plotly_script),
        Mount(access.STATIC_PREFIX.rstrip("/"), app=StaticFiles(directory=STATIC), name="ui"),
    ]


def middleware(settings: Settings) -> list[Middleware]:
    """Sessions and the login wall; give to ``Starlette(middleware=...)``."""
    return access.middleware(settings)


def startup_notice(warehouse: Warehouse) -> str | None:
    """What ``tally serve`` should print when nobody can log in yet."""
    return None if has_users(warehouse) else FIRST_ADMIN_HINT
