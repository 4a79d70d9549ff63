"""The login and logout forms.

Failed logins are counted per user name and client address; after ``MAX_FAILURES`` within
``FAILURE_WINDOW`` seconds that pair gets 429 until the window passes, which turns password
guessing from thousands of tries a minute into a handful.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tally.server.ui.access import csrf_valid, start_session, warehouse_of
from tally.server.ui.render import page
from tally.server.users import FIRST_ADMIN_HINT, authenticate, has_users

MAX_FAILURES = 5
FAILURE_WINDOW = 15 * 60.0


class FailedLogins:
    """Recent failures per (name, address), kept in memory."""

    def __init__(self) -> None:
        self._times: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def blocked(self, key: tuple[str, str], now: float) -> bool:
        times = self._times.get(key)
        while times and now - times[0] > FAILURE_WINDOW:
            times.popleft()
        return bool(times) and len(times) >= MAX_FAILURES

    def record(self, key: tuple[str, str], now: float) -> None:
        self._times[key].append(now)

    def clear(self, key: tuple[str, str]) -> None:
        self._times.pop(key, None)


failures = FailedLogins()


def safe_next(target: str) -> str:
    """Only a path on this server: never ``//host`` or ``https://elsewhere``."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


async def login_form(request: Request) -> Response:
    return await _form(request, next_path=safe_next(request.query_params.get("next", "/")))


async def _form(
    request: Request,
    *,
    next_path: str,
    error: str = "",
    username: str = "",
    status_code: int = 200,
) -> Response:
    users_exist = await asyncio.to_thread(has_users, warehouse_of(request))
    return page(
        request,
        "login.html",
        title="Log in",
        next=next_path,
        error=error,
        username=username,
        hint="" if users_exist else FIRST_ADMIN_HINT,
        status_code=status_code,
    )


async def login(request: Request) -> Response:
    form = await request.form()
    next_path = safe_next(str(form.get("next", "/")))
    username = str(form.get("username", "")).strip()
    if not await csrf_valid(request):
        return await _form(
            request,
            next_path=next_path,
            username=username,
            error="The form expired; please log in again.",
            status_code=403,
        )
    key = (username, request.client.host if request.client else "")
    now = time.monotonic()
    if failures.blocked(key, now):
        return await _form(
            request,
            next_path=next_path,
            username=username,
            error="Too many failed attempts; try again in 15 minutes.",
            status_code=429,
        )
    password = str(form.get("password", ""))
    user = await asyncio.to_thread(authenticate, warehouse_of(request), username, password)
    if user is None:
        failures.record(key, now)
        return await _form(
            request,
            next_path=next_path,
            username=username,
            error="Wrong user name or password.",
            status_code=401,
        )
    failures.clear(key)
    start_session(request, user)
    return RedirectResponse(next_path, status_code=303)


async def logout(request: Request) -> Response:
    if not await csrf_valid(request):
        return Response("missing or wrong CSRF token", status_code=403)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def routes() -> list[Route]:
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
