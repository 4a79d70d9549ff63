"""The user management page: only admins, CSRF on every form, changes through users.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from tests.server.ui_support import (
    PASSWORD,
    cheap_hashes,
    csrf_of,
    log_in,
    shop_sites,
)

from tally.config import Settings
from tally.server.users import add_user, get_user, grant
from tally.warehouse import Warehouse


@pytest.fixture
def store(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    cheap_hashes(monkeypatch)
    warehouse = shop_sites(settings)
    add_user(warehouse, "ada", PASSWORD, admin=True)
    add_user(warehouse, "bob", PASSWORD)
    grant(warehouse, "bob", 1, "view")
    yield warehouse
    warehouse.close()


def _post(client: TestClient, **form: str):
    token = csrf_of(client.get("/admin/users").text)
    return client.post("/admin/users", data={"csrf_token": token, **form}, follow_redirects=False)


def test_an_admin_adds_grants_revokes_and_deletes(client: TestClient, store: Warehouse) -> None:
    log_in(client, "ada")
    listing = client.get("/admin/users")
    assert listing.status_code == 200
    assert 'data-user="ada"' in listing.text and 'data-user="bob"' in listing.text
    assert "1 · Shop 1: view" in listing.text  # bob's right
    added = _post(client, action="add", name="cy", password="a long password", admin="")
    assert added.status_code == 303 and added.headers["location"] == "/admin/users"
    assert "Added cy." in client.get("/admin/users").text  # said once, then gone
    assert "Added cy." not in client.get("/admin/users").text
    assert get_user(store, "cy").is_admin is False
    _post(client, action="grant", name="cy", idsite="2", rights="admin")
    assert get_user(store, "cy").sites == {2: "admin"}
    _post(client, action="grant", name="cy", idsite="2", rights="view")  # replaces
    assert get_user(store, "cy").sites == {2: "view"}
    _post(client, action="revoke", name="cy", idsite="2")
    assert get_user(store, "cy").sites == {}
    _post(client, action="delete", name="cy")
    assert get_user(store, "cy") is None


def test_bad_forms_say_why(client: TestClient, store: Warehouse) -> None:
    log_in(client, "ada")
    short = _post(client, action="add", name="dee", password="short")
    assert short.status_code == 400 and "at least 10 characters" in short.text
    assert get_user(store, "dee") is None
    taken = _post(client, action="add", name="bob", password="a long password")
    assert taken.status_code == 400 and "exists already" in taken.text
    nowhere = _post(client, action="grant", name="bob", idsite="9", rights="view")
    assert nowhere.status_code == 400 and "no site 9" in nowhere.text
    myself = _post(client, action="delete", name="ada")
    assert myself.status_code == 400 and get_user(store, "ada") is not None


def test_csrf_is_required(client: TestClient, store: Warehouse) -> None:
    log_in(client, "ada")
    forged = client.post(
        "/admin/users",
        data={"action": "delete", "name": "bob", "csrf_token": "guess"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert get_user(store, "bob") is not None


def test_a_user_who_is_not_admin_gets_403(client: TestClient, store: Warehouse) -> None:
    log_in(client, "bob")
    assert client.get("/admin/users").status_code == 403
    assert 'href="/admin/users"' not in client.get("/elt").text  # no menu entry either
    token = csrf_of(client.get("/elt").text)
    answer = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "action": "grant",
            "name": "bob",
            "idsite": "2",
            "rights": "admin",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert get_user(store, "bob").sites == {1: "view"}


def test_no_session_is_sent_to_login(client: TestClient) -> None:
    answer = client.get("/admin/users", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert client.post("/admin/users", data={"action": "delete", "name": "bob"}).status_code == 401
