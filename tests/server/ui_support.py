"""Shared by the dashboard tests: the real app with the dashboards mounted, and a login."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from tally.config import Settings
from tally.server import ui, users
from tally.server.app import create_app
from tally.server.auth import TokenStore
from tally.warehouse import Warehouse, connect

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its smallest cost: the tests check logic, test_users checks the real cost."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def shop_sites(settings: Settings) -> Warehouse:
    """A migrated warehouse holding sites 1 and 2 ("Shop 1", "Shop 2"), the rights tests' sites."""
    warehouse = connect(settings.warehouse_url)
    with warehouse.session():  # one opening of the file for the migration and the inserts
        warehouse.migrate()
        for idsite in (1, 2):
            warehouse.execute(
                "INSERT INTO web.sites VALUES (?, ?, 'https://shop.example', '[]', 'UTC', "
                "TIMESTAMP '2026-01-01 00:00:00')",
                [idsite, f"Shop {idsite}"],
            )
    return warehouse


def dashboard_app(settings: Settings, warehouse: Warehouse) -> Starlette:
    """``create_app`` with the dashboards, mounted here unless app.py already mounts them."""
    app = create_app(settings, warehouse=warehouse, run_loader=False)
    paths = {getattr(route, "path", None) for route in app.routes}
    if "/login" not in paths:
        app.router.routes[:0] = ui.routes(settings)
        for layer in reversed(ui.middleware(settings)):
            app.add_middleware(layer.cls, *layer.args, **layer.kwargs)
    if "/index.php" not in paths:
        from tally.web.reporting import routes as reporting_routes

        tokens = TokenStore(warehouse)
        found = reporting_routes(settings, tokens.is_valid, warehouse=warehouse)
        app.router.routes[:0] = [r for r in found if isinstance(r, Route)]
    return app


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def log_in(client: TestClient, name: str, password: str = PASSWORD, next_path: str = "/"):
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"csrf_token": token, "username": name, "password": password, "next": next_path},
        follow_redirects=False,
    )
