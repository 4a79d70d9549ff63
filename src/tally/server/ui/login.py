"""The login and logout forms.

Failed logins are counted per user name, whatever address they come from: after
``MAX_FAILURES`` within ``FAILURE_WINDOW`` seconds the name gets 429 until the window
passes, which turns password guessing from thousands of tries a minute into a handful.
They are also counted per client address (``MAX_ADDRESS_FAILURES``, against one address
trying many names). The address is the TCP peer; ``X-Forwarded-For`` replaces it only when
the peer is one of ``[server] trusted_proxies`` (``tally.server.runner``), and even then
rotating the header cannot reset the count of a name. The price: anyone can lock a name
out for 15 minutes by failing five times; the owner waits, nobody gets in.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tally.server.ui.access import accounts_of, csrf_valid, start_session, stop_session
from tally.server.ui.render import page
from tally.server.users import FIRST_ADMIN_HINT, authenticate, has_users

MAX_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
FAILURE_WINDOW = 15 * 60.0


class FailedLogins:
    """Recent failures per user name and per client address, kept in memory."""

    def __init__(self) -> None:
        self._times: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, name: str, address: str, now: float) -> bool:
        return (
            self._count(f"name:{name.casefold()}", now) >= MAX_FAILURES
            or self._count(f"address:{address}", now) >= MAX_ADDRESS_FAILURES
        )

    def record(self, name: str, address: str, now: float) -> None:
        self._times[f"name:{name.casefold()}"].append(now)
        self._times[f"address:{address}"].append(now)

    def clear(self, name: str) -> None:
        """A right password ends the name's count (not the address's: it may be guessing)."""
        self._times.pop(f"name:{name.casefold()}", None)

    def _count(self, key: str, now: float) -> int:
        times = self._times.get(key)
        while times and now - times[0] > FAILURE_WINDOW:
            times.popleft()
        if key in self._times and not times:
            del self._times[key]  # so a flood of made-up names does not grow the dict
        return len(times) if times else 0


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
    users_exist = await asyncio.to_thread(has_users, accounts_of(request))
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
    address = request.client.host if request.client else ""
    now = time.monotonic()
    if failures.blocked(username, address, now):
        return await _form(
            request,
            next_path=next_path,
            username=username,
            error="Too many failed attempts; try again in 15 minutes.",
            status_code=429,
        )
    password = str(form.get("password", ""))
    user = await asyncio.to_thread(authenticate, accounts_of(request), username, password)
    if user is None:
        failures.record(username, address, now)
        return await _form(
            request,
            next_path=next_path,
            username=username,
            error="Wrong user name or password.",
            status_code=401,
        )
    failures.clear(username)
    await start_session(request, user)
    return RedirectResponse(next_path, status_code=303)


async def logout(request: Request) -> Response:
    if not await csrf_valid(request):
        return Response("missing or wrong CSRF token", status_code=403)
    await stop_session(request)
    return RedirectResponse("/login", status_code=303)


def routes() -> list[Route]:
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
