"""Security: sessions end on the server, tokens carry their user's rights and expire,
lockout cannot be reset by headers.

The fixture's warehouse holds sites 1 and 2 (tests/server/ui_support.py); bob may view
site 1 only, ada is an admin.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient
from tests.server.ui_support import PASSWORD, cheap_hashes, csrf_of, log_in, shop_sites

from tally.config import Settings, load_settings
from tally.server import auth
from tally.server.app import create_app
from tally.server.auth import TokenStore, create_token
from tally.server.runner import proxy_options
from tally.server.ui import login
from tally.server.users import (
    add_user,
    delete_user,
    grant,
    open_session,
    session_user,
    set_password,
)
from tally.warehouse import Warehouse

REPORT = {
    "module": "API",
    "method": "VisitsSummary.get",
    "period": "day",
    "date": "2026-03-02",
    "format": "json",
}


@pytest.fixture
def store(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    cheap_hashes(monkeypatch)
    monkeypatch.setattr(login, "failures", login.FailedLogins())
    warehouse = shop_sites(settings)
    add_user(warehouse, "ada", PASSWORD, admin=True)
    add_user(warehouse, "bob", PASSWORD)
    grant(warehouse, "bob", 1, "view")
    yield warehouse
    warehouse.close()


def copied_cookie_works(client: TestClient, cookie: str) -> bool:
    """Whether a bare copy of the session cookie still opens a dashboard page."""
    fresh = TestClient(client.app, base_url="http://testserver")
    fresh.cookies.set("tally_session", cookie)
    return fresh.get("/elt", follow_redirects=False).status_code == 200


# -- sessions ------------------------------------------------------------------------------


def test_logout_ends_the_session_for_a_copied_cookie(client: TestClient, store) -> None:
    assert log_in(client, "bob").status_code == 303
    cookie = client.cookies["tally_session"]
    assert copied_cookie_works(client, cookie)  # the copy works while the session lives
    token = csrf_of(client.get("/elt").text)
    assert (
        client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    assert not copied_cookie_works(client, cookie)
    assert store.rows("SELECT count(*) FROM tally_meta.sessions")[0][0] == 0


def test_a_password_change_ends_every_session_of_the_user(client: TestClient, store) -> None:
    log_in(client, "bob")
    cookie = client.cookies["tally_session"]
    other = open_session(store, "ada")  # another user's session is left alone
    set_password(store, "bob", "a new password for bob")
    assert not copied_cookie_works(client, cookie)
    assert session_user(store, other).name == "ada"


def test_deleting_a_user_ends_their_sessions(store) -> None:
    session = open_session(store, "bob")
    assert session_user(store, session).name == "bob"
    delete_user(store, "bob")
    assert session_user(store, session) is None
    assert store.rows("SELECT count(*) FROM tally_meta.sessions WHERE name = 'bob'")[0][0] == 0


def test_an_expired_session_is_refused_and_only_a_hash_is_stored(store) -> None:
    expired = open_session(store, "bob", seconds=-1)
    assert session_user(store, expired) is None
    assert session_user(store, "made-up") is None
    live = open_session(store, "bob")
    stored = [row[0] for row in store.rows("SELECT session_hash FROM tally_meta.sessions")]
    assert live not in stored and expired not in stored and len(stored) == 2


# -- tokens --------------------------------------------------------------------------------


def test_a_user_token_reads_only_that_users_sites(settings, store) -> None:
    bob = create_token(store, "bob-bot", user="bob")
    service = create_token(store, "service")
    with TestClient(
        create_app(settings, warehouse=store, run_loader=False, stream=False)
    ) as client:
        one = client.get("/index.php", params={**REPORT, "idSite": "1", "token_auth": bob})
        assert one.status_code == 200, one.text
        two = client.get("/index.php", params={**REPORT, "idSite": "2", "token_auth": bob})
        assert two.status_code == 403
        assert "no 'view' access to idSite 2" in two.json()["message"]
        both = client.get("/index.php", params={**REPORT, "idSite": "all", "token_auth": bob})
        assert list(both.json()) == ["1"]  # all = all of bob's sites
        every = client.get("/index.php", params={**REPORT, "idSite": "all", "token_auth": service})
        assert list(every.json()) == ["1", "2"]

        def site_method(method: str, token: str, **params: str):
            query = {"module": "API", "method": method, "format": "json", "token_auth": token}
            return client.get("/index.php", params={**query, **params})

        # the sites API too: bob's list holds site 1 only, site 2 and addSite are refused
        assert list(site_method("SitesManager.getAllSites", bob).json()) == ["1"]
        assert list(site_method("SitesManager.getAllSites", service).json()) == ["1", "2"]
        assert site_method("SitesManager.getSiteFromId", bob, idSite="2").status_code == 403
        assert site_method("SitesManager.getSiteFromId", bob, idSite="1").status_code == 200
        added = site_method("SitesManager.addSite", bob, siteName="Mine", urls="mine.example")
        assert added.status_code == 403 and "admin" in added.json()["message"]


def test_admin_apis_need_an_admin_token(settings, store) -> None:
    tokens = {
        "bob": create_token(store, "b", user="bob"),
        "ada": create_token(store, "a", user="ada"),
        "service": create_token(store, "s"),
    }
    with TestClient(
        create_app(settings, warehouse=store, run_loader=False, stream=False)
    ) as client:

        def status(path: str, who: str) -> int:
            headers = {"authorization": f"Bearer {tokens[who]}"}
            return client.get(path, headers=headers, follow_redirects=False).status_code

        assert [status("/api/tracking/stats", who) for who in tokens] == [403, 200, 200]
        assert [status("/metrics", who) for who in tokens] == [401, 200, 200]


def test_expired_revoked_and_orphaned_tokens_are_refused(store, monkeypatch) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    soon = create_token(store, "soon", user="bob", expires_at=now + dt.timedelta(hours=1))
    orphan = create_token(store, "orphan", user="bob")
    tokens = TokenStore(store, max_age=0)
    assert asyncio_run(tokens.access(soon)).sites == {1: "view"}
    monkeypatch.setattr(auth, "_now", lambda: now + dt.timedelta(hours=2))
    assert asyncio_run(tokens.access(soon)) is None  # past its expiry
    monkeypatch.undo()
    delete_user(store, "bob")
    assert asyncio_run(tokens.access(orphan)) is None  # its user is gone
    with pytest.raises(Exception, match="already past"):
        create_token(store, "late", expires_at=now - dt.timedelta(days=1))
    with pytest.raises(Exception, match="no user 'nobody'"):
        create_token(store, "x", user="nobody")


def test_a_token_follows_its_users_rights(store) -> None:
    token = create_token(store, "bob-bot", user="bob")
    tokens = TokenStore(store, max_age=0)
    assert not asyncio_run(tokens.access(token)).can_view(2)
    grant(store, "bob", 2, "admin")
    found = asyncio_run(tokens.access(token))
    assert found.can_view(2) and found.can_admin(2) and not found.is_admin
    assert asyncio_run(tokens.may_track(token))  # admin rights on a site may set cip/cdt


def asyncio_run(awaitable):
    import asyncio

    return asyncio.run(awaitable)


# -- lockout -------------------------------------------------------------------------------


def test_x_forwarded_for_is_ignored_unless_the_proxy_is_listed(tmp_path) -> None:
    plain = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path)})
    assert proxy_options(plain) == {"proxy_headers": False}
    listed = load_settings(
        environ={"TALLY_DATA_DIR": str(tmp_path), "TALLY_SERVER__TRUSTED_PROXIES": "10.0.0.0/8"}
    )
    assert proxy_options(listed) == {"proxy_headers": True, "forwarded_allow_ips": ["10.0.0.0/8"]}
    with pytest.raises(Exception, match="not an IP address"):
        load_settings(environ={"TALLY_SERVER__TRUSTED_PROXIES": "proxy.example"})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("trusted", [[], ["127.0.0.1"]])
def test_rotating_x_forwarded_for_through_a_real_server_cannot_reset_the_lockout(
    tmp_path, monkeypatch, trusted
) -> None:
    """uvicorn trusts 127.0.0.1's X-Forwarded-For by default; with the proxy listed or not,
    five failures lock the name, whatever address each claimed."""
    cheap_hashes(monkeypatch)
    monkeypatch.setattr(login, "failures", login.FailedLogins())
    environ = {"TALLY_DATA_DIR": str(tmp_path)}
    if trusted:
        environ["TALLY_SERVER__TRUSTED_PROXIES"] = "127.0.0.1"
    settings = load_settings(environ=environ)
    warehouse = shop_sites(settings)
    add_user(warehouse, "bob", PASSWORD)
    warehouse.close()
    port = free_port()
    app = create_app(settings, run_loader=False, stream=False)
    config = uvicorn.Config(app, port=port, log_level="error", **proxy_options(settings))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:

            def attempt(password: str, address: str) -> int:
                token = csrf_of(client.get("/login").text)
                form = {"csrf_token": token, "username": "bob", "password": password}
                headers = {"x-forwarded-for": address}
                return client.post("/login", data=form, headers=headers).status_code

            codes = [attempt("wrong password!", f"203.0.113.{i}") for i in range(5)]
            assert codes == [401] * 5
            # the right password, from yet another claimed address: still locked
            assert attempt(PASSWORD, "198.51.100.9") == 429
    finally:
        server.should_exit = True
        thread.join(10)


def test_one_address_trying_many_names_is_locked_out_too() -> None:
    failures = login.FailedLogins()
    for number in range(login.MAX_ADDRESS_FAILURES):
        assert not failures.blocked(f"name{number}", "192.0.2.1", 0.0)
        failures.record(f"name{number}", "192.0.2.1", 0.0)
    assert failures.blocked("someone-new", "192.0.2.1", 1.0)
    assert not failures.blocked("someone-new", "192.0.2.2", 1.0)
    assert not failures.blocked("someone-new", "192.0.2.1", login.FAILURE_WINDOW + 1)
