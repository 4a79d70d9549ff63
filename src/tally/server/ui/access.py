"""Sessions, the login wall and CSRF tokens for the dashboards.

The session cookie is signed with the server's secret (Starlette's ``SessionMiddleware``,
itsdangerous underneath): HttpOnly, SameSite=Lax, and Secure whenever the request came over
HTTPS. It holds a random session id and the CSRF token that every form must send back; who
is logged in is only on the server (the sessions table, see ``users.open_session``), so
logging out, a password change or deleting the user ends the session for every copy of
the cookie.

Who gets through without a session: the tracking endpoint, the tracker script, the health
check, the login page and the dashboards' static files. ``/api`` keeps its own token check
(401 JSON); ``/metrics`` takes an admin's API token or a session, else 401 JSON.
Every other path sends a browser to the login page.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast
from urllib.parse import quote

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tally.config import Settings
from tally.server.auth import TokenStore
from tally.server.settings import ServerSettings
from tally.server.users import SESSION_SECONDS, User, end_session, open_session, session_user
from tally.warehouse import Warehouse

SESSION_COOKIE = "tally_session"
PUBLIC_PATHS = frozenset(
    {"/matomo.php", "/piwik.php", "/tally.js", "/matomo.js", "/piwik.js", "/health", "/login"}
)
STATIC_PREFIX = "/ui/static/"
T = TypeVar("T")
API_PREFIXES = ("/api/", "/index.php", STATIC_PREFIX)
TOKEN_OR_SESSION_PREFIXES = ("/metrics",)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def secret_key(settings: Settings) -> str:
    """``[server] secret_key``, or a random key kept in ``<data_dir>/server-secret`` (0600)."""
    configured = settings.section(ServerSettings).secret_key
    if configured is not None:
        return configured.get_secret_value()
    path = Path(settings.data_dir) / "server-secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two servers starting at once must not each write a different key.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(key)
    return key


class Sessions:
    """Signed-cookie sessions whose Secure flag follows the request's scheme.

    Starlette's middleware fixes the flag at construction, so one instance serves plain HTTP
    (a laptop on 127.0.0.1) and one HTTPS (behind a TLS proxy with --proxy-headers).
    """

    def __init__(self, app: ASGIApp, secret: str) -> None:
        def middleware(https_only: bool) -> SessionMiddleware:
            return SessionMiddleware(
                app,
                secret_key=secret,
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_SECONDS,
                same_site="lax",
                https_only=https_only,
            )

        self.plain = middleware(https_only=False)
        self.secure = middleware(https_only=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = self.secure if scope.get("scheme") in ("https", "wss") else self.plain
        await chosen(scope, receive, send)


class LoginRequired:
    """Lets public paths through, checks tokens where they apply, sends the rest to login."""

    def __init__(self, app: ASGIApp, tokens: TokenStore | None = None) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or _public(path):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        user = await current_user(connection)
        if user is not None:
            scope.setdefault("state", {})["user"] = user
            await self.app(scope, receive, send)
            return
        if path.startswith(TOKEN_OR_SESSION_PREFIXES):
            if await self._token_valid(connection):
                await self.app(scope, receive, send)
                return
            await _unauthorised(scope, receive, send)
            return
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
            target = path + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
            response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            await response(scope, receive, send)
            return
        await _unauthorised(scope, receive, send)

    async def _token_valid(self, connection: HTTPConnection) -> bool:
        # Header or query string only: reading a body here would take it from the app.
        header = connection.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        token = token or connection.query_params.get("token_auth", "")
        store = self.tokens or _token_store(connection)
        return store is not None and await store.is_admin(token)


def _public(path: str) -> bool:
    # /api and the Reporting API (/index.php) answer 401 JSON/XML themselves without a token.
    return path in PUBLIC_PATHS or path == "/api" or path.startswith(API_PREFIXES)


async def _unauthorised(scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(
        {"status": "error", "reason": "log in, or send an API token (Authorization: Bearer)"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )
    await response(scope, receive, send)


def _token_store(connection: HTTPConnection) -> TokenStore | None:
    state = connection.app.state
    store = getattr(state, "ui_tokens", None)
    if store is None and getattr(state, "warehouse", None) is not None:
        store = TokenStore(state.warehouse)
        state.ui_tokens = store
    return store


def warehouse_of(connection: HTTPConnection) -> Warehouse:
    """The app's warehouse (``app.state.warehouse``, set by ``create_app``)."""
    warehouse: Warehouse = connection.app.state.warehouse
    return warehouse


async def page_queries(request: Request, compute: Callable[[], T]) -> T:
    """Run a dashboard page's queries on the server's report threads (``server/reports.py``),
    as the Reporting API's calls run: with their own connections, the interactive time limit,
    and an interrupt when the browser leaves. In asyncio's default pool they would share
    threads with login and the tracking site-list refresh, which a few heavy pages could
    then hold up. Past the limit, ``QueryTimeoutError`` (the app answers 503)."""
    runner = getattr(request.app.state, "reports", None)
    if runner is None:  # an app of dashboard routes alone (no server around it)
        return await asyncio.to_thread(compute)
    return cast(T, await runner(request, lambda _warehouse: compute()))


def accounts_of(connection: HTTPConnection) -> Warehouse:
    """The warehouse for logins and sessions: the app's (each thread has its own connection,
    so a login never queues behind a dashboard's or a report's queries)."""
    return warehouse_of(connection)


async def current_user(connection: HTTPConnection) -> User | None:
    """The logged-in user of this request, or None (no session, user gone, password changed)."""
    cached: User | None = connection.scope.get("state", {}).get("user")
    if cached is not None:
        return cached
    session = connection.scope.get("session")
    if not session or "sid" not in session:
        return None
    return await asyncio.to_thread(session_user, accounts_of(connection), session["sid"])


async def start_session(request: Request, user: User) -> None:
    """Log ``user`` in: a fresh session (no fixation) with a new CSRF token."""
    session_id = await asyncio.to_thread(open_session, accounts_of(request), user.name)
    request.session.clear()
    request.session["sid"] = session_id
    request.session["csrf"] = secrets.token_urlsafe(32)


async def stop_session(request: Request) -> None:
    """Log out: the server forgets the session, so a copy of the cookie is worth nothing."""
    session_id = request.session.get("sid", "")
    if session_id:
        await asyncio.to_thread(end_session, accounts_of(request), session_id)
    request.session.clear()


def csrf_token(request: Request) -> str:
    """This session's CSRF token (created on first use, e.g. by the login form)."""
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    return str(request.session["csrf"])


async def csrf_valid(request: Request) -> bool:
    """Whether a POST carries this session's CSRF token (form field or X-CSRF-Token)."""
    expected = request.session.get("csrf", "")
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        form = await request.form()
        sent = str(form.get(CSRF_FIELD, ""))
    return bool(expected) and hmac.compare_digest(expected.encode(), sent.encode())


def middleware(settings: Settings) -> list[Middleware]:
    """Sessions (outermost), then the login wall."""
    return [Middleware(Sessions, secret=secret_key(settings)), Middleware(LoginRequired)]
