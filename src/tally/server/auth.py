"""API tokens: created once, shown once, stored only as their SHA-256.

A request authenticates with ``Authorization: Bearer <token>`` or, as Matomo clients do,
``token_auth=<token>`` in the query string or a form body. Everything the server offers
except tracking, the tracker script and the health check requires a valid token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tally.errors import NotFoundError
from tally.warehouse import Warehouse
from tally.web.lookup import CachedSet


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(warehouse: Warehouse, name: str) -> str:
    """Store a new token under ``name`` and return it (the only time it is visible)."""
    token = secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    warehouse.execute(
        "INSERT INTO tally_meta.api_tokens (token_hash, name, created_at) VALUES (?, ?, ?)",
        [hash_token(token), name, now],
    )
    return token


def list_tokens(warehouse: Warehouse) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
    """(name, created_at, revoked_at) of every token; never the token itself."""
    return [
        (row[0], row[1], row[2])
        for row in warehouse.rows(
            "SELECT name, created_at, revoked_at FROM tally_meta.api_tokens ORDER BY created_at"
        )
    ]


def revoke_tokens(warehouse: Warehouse, name: str) -> int:
    """Revoke every live token called ``name``; returns how many."""
    live = warehouse.rows(
        "SELECT count(*) FROM tally_meta.api_tokens WHERE name = ? AND revoked_at IS NULL",
        [name],
    )[0][0]
    if not live:
        raise NotFoundError(f"no live API token named {name!r} (see: tally token list)")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    warehouse.execute(
        "UPDATE tally_meta.api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        [now, name],
    )
    return int(live)


class TokenStore:
    """Checks tokens against the hashes in the warehouse, kept in memory."""

    def __init__(self, warehouse: Warehouse, max_age: float = 30.0) -> None:
        self.warehouse = warehouse
        self._hashes = CachedSet(self._load, max_age=max_age)

    def _load(self) -> set[object]:
        rows = self.warehouse.rows(
            "SELECT token_hash FROM tally_meta.api_tokens WHERE revoked_at IS NULL"
        )
        return {row[0] for row in rows}

    async def is_valid(self, token: str) -> bool:
        return bool(token) and await self._hashes.contains(hash_token(token))


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
    """ASGI middleware: answer 401 unless the request carries a valid API token."""

    def __init__(self, app: ASGIApp, tokens: TokenStore) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if not await self.tokens.is_valid(await request_token(request)):
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

    async def receive() -> dict[str, object]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await request.receive()

    return receive
