"""The login wall, sessions, CSRF and site rights, through the real app in-process."""

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
from tally.server.auth import create_token
from tally.server.ui import access, login, startup_notice
from tally.server.users import add_user, grant, set_password
from tally.warehouse import Warehouse


@pytest.fixture
def store(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    cheap_hashes(monkeypatch)
    monkeypatch.setattr(login, "failures", login.FailedLogins())
    warehouse = shop_sites(settings)
    yield warehouse
    warehouse.close()


def test_first_run_explains_how_to_create_an_admin(client: TestClient, store: Warehouse) -> None:
    assert "tally user add NAME --admin" in startup_notice(store)
    assert "tally user add NAME --admin" in client.get("/login").text
    add_user(store, "ada", PASSWORD, admin=True)
    assert startup_notice(store) is None
    assert "tally user add" not in client.get("/login").text


def test_pages_redirect_to_login_and_back(client: TestClient, store: Warehouse) -> None:
    add_user(store, "ada", PASSWORD, admin=True)
    for path in ("/", "/elt", "/subscriptions", "/web/pages?idSite=1"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")
    answer = log_in(client, "ada", next_path="/elt?days=7")
    assert answer.status_code == 303 and answer.headers["location"] == "/elt?days=7"
    page = client.get("/elt?days=7")
    assert page.status_code == 200 and "ELT monitoring" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    cookie = answer.headers["set-cookie"]
    assert "tally_session=" in cookie and "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower() and "secure" not in cookie.lower()  # plain HTTP


def test_public_paths_need_no_session(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/matomo.php?idsite=1&rec=1").status_code == 200
    assert client.get("/ui/static/tally.css").status_code == 200
    plotly = client.get("/ui/static/plotly.min.js")  # the client asks for gzip
    assert plotly.status_code == 200 and plotly.headers["content-encoding"] == "gzip"
    assert int(plotly.headers["content-length"]) < 2_000_000  # on the wire
    assert len(plotly.content) > 4_000_000 and b"plotly.js" in plotly.content[:2000]


def test_api_without_token_is_401_json_not_a_redirect(client: TestClient, store: Warehouse) -> None:
    answer = client.get("/api/tracking/stats", follow_redirects=False)
    assert answer.status_code == 401 and answer.json()["status"] == "error"
    metrics = client.get("/metrics", follow_redirects=False)
    assert metrics.status_code == 401 and metrics.headers["www-authenticate"] == "Bearer"
    token = create_token(store, "prometheus")
    scraped = client.get("/metrics", headers={"authorization": f"Bearer {token}"})
    assert scraped.status_code == 200 and "tally_run_steps" in scraped.text
    assert "tally_stream_events_received_total 0.0" in scraped.text  # the app's stream engine
    assert client.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401


def test_wrong_password_csrf_and_throttle(client: TestClient, store: Warehouse) -> None:
    add_user(store, "ada", PASSWORD, admin=True)
    wrong = log_in(client, "ada", "not the password")
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    forged = client.post(
        "/login", data={"csrf_token": "forged", "username": "ada", "password": PASSWORD}
    )
    assert forged.status_code == 403
    for _ in range(login.MAX_FAILURES - 1):  # one failure above, four more make five
        assert log_in(client, "ada", "still wrong").status_code == 401
    # Now even the right password waits: the pair (name, address) is blocked.
    assert log_in(client, "ada").status_code == 429
    assert client.get("/elt", follow_redirects=False).status_code == 303


def test_logout_needs_csrf_and_ends_the_session(client: TestClient, store: Warehouse) -> None:
    add_user(store, "ada", PASSWORD, admin=True)
    log_in(client, "ada")
    page = client.get("/elt")
    assert client.post("/logout", data={"csrf_token": "nope"}).status_code == 403
    assert client.get("/elt", follow_redirects=False).status_code == 200
    client.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert client.get("/elt", follow_redirects=False).status_code == 303


def test_a_password_change_ends_older_sessions(client: TestClient, store: Warehouse) -> None:
    add_user(store, "ada", PASSWORD, admin=True)
    log_in(client, "ada")
    assert client.get("/elt", follow_redirects=False).status_code == 200
    set_password(store, "ada", "a brand new password")
    assert client.get("/elt", follow_redirects=False).status_code == 303


def test_site_rights_decide_web_pages(client: TestClient, store: Warehouse) -> None:
    add_user(store, "bob", PASSWORD)
    grant(store, "bob", 1, "view")
    log_in(client, "bob")
    assert client.get("/web/pages?idSite=1").status_code == 200
    refused = client.get("/web/pages?idSite=2")
    assert refused.status_code == 403 and "no rights to site 2" in refused.text
    assert client.get("/web/realtime/widget?idSite=2").status_code == 403
    assert client.get("/web/pages?idSite=7").status_code == 404
    picker = client.get("/web/pages").text  # the picker offers only site 1
    assert "Shop 1" in picker and "Shop 2" not in picker


def test_next_never_leaves_the_server() -> None:
    assert login.safe_next("/web?idSite=1") == "/web?idSite=1"
    assert login.safe_next("//evil.example/") == "/"
    assert login.safe_next("https://evil.example/") == "/"
    assert login.safe_next("/\\evil.example") == "/"


def test_the_secret_key_is_made_once_and_kept_private(settings: Settings) -> None:
    first = access.secret_key(settings)
    assert access.secret_key(settings) == first and len(first) >= 48
    path = f"{settings.data_dir}/server-secret"
    import os
    import stat

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
