"""API tokens: created once, shown once, stored only as their SHA-256.

A request authenticates with ``Authorization: Bearer <token>`` or, as Matomo clients do,
``token_auth=<token>`` in the query string or a form body. Everything the server offers
except tracking, the tracker script and the health check requires a valid token.

A token belongs to a user (``tally token add NAME --user U``) and carries that user's
rights, read afresh as they change: the Reporting API answers only for the user's sites,
and the admin APIs (``/api``, ``/metrics``, tracking with ``token_auth``) need an admin.
A token made with ``--admin`` and no user is a *service* token with admin rights (every
token made before tokens had owners is one). A token may expire (``--expires``); an expired token,
a revoked one, or one whose user is gone is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tally.errors import BadInputError, NotFoundError
from tally.warehouse import Warehouse
from tally.warehouse.meta import accounts
from tally.web.lookup import CachedSet


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Access:
    """What one token may do: a user's rights, or every right for admins and services."""

    token_name: str
    user: str | None  # None: a service token
    is_admin: bool
    sites: Mapping[int, str] = field(default_factory=dict)  # idsite -> 'view' | 'admin'
    expires_at: dt.datetime | None = None

    def can_view(self, idsite: int) -> bool:
        return self.is_admin or idsite in self.sites

    def can_admin(self, idsite: int) -> bool:
        return self.is_admin or self.sites.get(idsite) == "admin"

    def expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True)
class TokenInfo:
    name: str
    user: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def create_token(
    warehouse: Warehouse,
    name: str,
    *,
    user: str | None = None,
    expires_at: dt.datetime | None = None,
) -> str:
    """Store a new token under ``name`` and return it (the only time it is visible).

    ``user``: the token acts with that user's rights; None makes a service token (admin).
    ``expires_at`` (UTC, naive): refused from then on.
    """
    if user is not None and not accounts.user_exists(warehouse, user):
        raise NotFoundError(f"no user {user!r} (see: tally user list)")
    now = _now()
    if expires_at is not None and expires_at <= now:
        raise BadInputError(f"the expiry {expires_at:%Y-%m-%d %H:%M} is already past")
    token = secrets.token_urlsafe(32)
    accounts.insert_token(warehouse, hash_token(token), name, now, user, expires_at)
    return token


def list_tokens(warehouse: Warehouse) -> list[TokenInfo]:
    """Every token's name, owner and dates; never the token itself."""
    return [TokenInfo(*row) for row in accounts.token_rows(warehouse)]


def token_access(warehouse: Warehouse) -> dict[str, Access]:
    """Access of every live token by its hash (revoked ones and those of deleted users left
    out; expiry is checked at use, since it passes while the map is cached)."""
    with warehouse.session():  # both reads on one opening of the warehouse
        rows = accounts.live_tokens(warehouse)
        rights = accounts.all_sites(warehouse)
    return {
        digest: Access(
            token_name=name,
            user=user,
            is_admin=user is None or bool(is_admin),
            sites=rights.get(user, {}) if user is not None else {},
            expires_at=expires_at,
        )
        for digest, name, user, expires_at, is_admin in rows
    }


def revoke_tokens(warehouse: Warehouse, name: str) -> int:
    """Revoke every live token called ``name``; returns how many."""
    live = accounts.revoke_tokens(warehouse, name, _now())
    if not live:
        raise NotFoundError(f"no live API token named {name!r} (see: tally token list)")
    return live


class TokenStore:
    """Checks tokens against the hashes in the warehouse, kept in memory (with the rights of
    their users) for ``max_age`` seconds: a revoked token or a changed right counts within
    that time."""

    def __init__(self, warehouse: Warehouse, max_age: float = 30.0) -> None:
        self.warehouse = warehouse
        self._access: dict[str, Access] = {}
        self._hashes = CachedSet(self._load, max_age=max_age)

    def _load(self) -> set[object]:
        self._access = token_access(self.warehouse)
        return set(self._access)

    async def access(self, token: str) -> Access | None:
        """The token's rights, or None when it is unknown, revoked, expired or orphaned."""
        if not token:
            return None
        digest = hash_token(token)
        if not await self._hashes.contains(digest):
            return None
        found = self._access.get(digest)
        return None if found is None or found.expired(_now()) else found

    async def is_valid(self, token: str) -> bool:
        return await self.access(token) is not None

    async def is_admin(self, token: str) -> bool:
        found = await self.access(token)
        return found is not None and found.is_admin

    async def may_track(self, token: str) -> bool:
        """Whether ``token_auth`` may set a hit's IP, time or place (``cip``, ``cdt``, ...):
        admins, and users with admin rights on a site (Matomo asks write access)."""
        found = await self.access(token)
        return found is not None and (found.is_admin or "admin" in found.sites.values())


async def request_token(request: Request) -> str:
    """The token a request presents (Bearer header, then token_auth in query or form)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if "token_auth" in request.query_params:
        return request.query_params["token_auth"]
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        return form.get("token_auth", "")
    return ""


class RequireToken:
    """ASGI middleware: answer 401 unless the request carries a valid API token (with
    ``admin=True``, the token of an admin or a service; else 403)."""

    def __init__(self, app: ASGIApp, tokens: TokenStore, *, admin: bool = False) -> None:
        self.app = app
        self.tokens = tokens
        self.admin = admin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        access = await self.tokens.access(await request_token(request))
        if access is not None and self.admin and not access.is_admin:
            response = JSONResponse(
                {"status": "error", "reason": "this API needs an admin's token"},
                status_code=403,
            )
            await response(scope, receive, send)
            return
        if access is None:
            response = JSONResponse(
                {
                    "status": "error",
                    "reason": "a valid API token is required "
                    "(Authorization: Bearer TOKEN or token_auth=TOKEN)",
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(request), send)


def _replay(request: Request) -> Receive:
    """A receive callable that hands the already-read body (if any) to the inner app."""
    body = getattr(request, "_body", None)
    if body is None:
        return request.receive
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await request.receive()

    return receive
