"""API tokens: stored hashed, accepted as Bearer or token_auth, revocable."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tally.errors import NotFoundError
from tally.server.auth import RequireToken, TokenStore, create_token, list_tokens, revoke_tokens
from tally.warehouse import Warehouse


def test_only_the_hash_is_stored(warehouse: Warehouse) -> None:
    token = create_token(warehouse, "reporting")
    stored = warehouse.rows("SELECT token_hash, name FROM tally_meta.api_tokens")
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(), "reporting")]
    assert [t.name for t in list_tokens(warehouse) if t.revoked_at is None] == ["reporting"]


def test_tokens_check_and_revoke(duckdb_warehouse: Warehouse) -> None:
    token = create_token(duckdb_warehouse, "bot")
    store = TokenStore(duckdb_warehouse, max_age=0)
    assert asyncio.run(store.is_valid(token)) is True
    assert asyncio.run(store.is_valid(token + "x")) is False
    assert asyncio.run(store.is_valid("")) is False
    assert revoke_tokens(duckdb_warehouse, "bot") == 1
    assert asyncio.run(store.is_valid(token)) is False
    with pytest.raises(NotFoundError, match="tally token list"):
        revoke_tokens(duckdb_warehouse, "bot")


def echo_app(duckdb_warehouse: Warehouse) -> TestClient:
    async def echo(request):
        return PlainTextResponse((await request.body()).decode() or "empty")

    inner = Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"])])
    return TestClient(RequireToken(inner, TokenStore(duckdb_warehouse)))


def test_the_middleware_accepts_each_way_of_presenting_a_token(
    duckdb_warehouse: Warehouse,
) -> None:
    token = create_token(duckdb_warehouse, "api")
    client = echo_app(duckdb_warehouse)
    assert client.get("/echo").status_code == 401
    assert client.get("/echo", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/echo", headers={"authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/echo", params={"token_auth": token}).status_code == 200
    # A form body carrying token_auth still reaches the endpoint whole.
    response = client.post(
        "/echo",
        content=f"token_auth={token}&x=1",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200 and response.text == f"token_auth={token}&x=1"
    assert client.get("/echo").headers["www-authenticate"] == "Bearer"
