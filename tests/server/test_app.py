"""The assembled app: public routes, the tracker script, authenticated API routes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tally.config import Settings
from tally.server import app as app_module
from tally.server.app import create_app
from tally.server.auth import create_token
from tally.warehouse import Warehouse, connect


@pytest.fixture
def store(settings: Settings) -> Iterator[Warehouse]:
    warehouse = connect(settings.warehouse_url)
    warehouse.migrate()
    warehouse.execute(
        "INSERT INTO web.sites VALUES (1, 'Shop', 'https://shop.example', '[]', 'UTC', "
        "TIMESTAMP '2026-01-01 00:00:00')"
    )
    yield warehouse
    warehouse.close()


def test_public_routes_need_no_token(settings: Settings, store: Warehouse) -> None:
    with TestClient(
        create_app(settings, warehouse=store, run_loader=False, stream=False)
    ) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/matomo.php?idsite=1&rec=1").status_code == 200
        assert client.get("/api/tracking/stats").status_code == 401


def test_the_tracker_script_is_served_or_explained(
    settings: Settings, store: Warehouse, tmp_path, monkeypatch
) -> None:
    script = tmp_path / "tally.js"
    monkeypatch.setattr(app_module, "TRACKER_SCRIPT", script)
    with TestClient(
        create_app(settings, warehouse=store, run_loader=False, stream=False)
    ) as client:
        missing = client.get("/matomo.js")
        assert missing.status_code == 404 and "tally.js" in missing.text
        script.write_text("var _paq = window._paq || [];")
        for path in ("/tally.js", "/matomo.js", "/piwik.js"):
            served = client.get(path)
            assert served.status_code == 200
            assert served.headers["content-type"].startswith("application/javascript")
            assert served.text == "var _paq = window._paq || [];"


def test_loading_through_the_api(settings: Settings, store: Warehouse) -> None:
    token = create_token(store, "ops")
    with TestClient(
        create_app(settings, warehouse=store, run_loader=False, stream=False)
    ) as client:
        client.get("/matomo.php?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2F")
        client.get("/matomo.php?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2Fb")
        answer = client.post("/api/tracking/load", headers={"authorization": f"Bearer {token}"})
        assert answer.json()["loaded"] == 2
        stats = client.get("/api/tracking/stats", params={"token_auth": token}).json()
        assert stats["accepted"] == 2
    assert store.rows("SELECT count(*) FROM web.hits") == [(2,)]


def test_stopping_the_app_loads_what_is_left(settings: Settings, store: Warehouse) -> None:
    with TestClient(create_app(settings, warehouse=store, stream=False)) as client:
        client.get("/matomo.php?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2Flast")
    assert store.rows("SELECT url FROM web.hits") == [("https://shop.example/last",)]


def test_the_server_prepares_its_loads_in_the_child_process_it_keeps(
    settings: Settings, store: Warehouse, monkeypatch
) -> None:
    from tally.web import loader

    def refused(*arguments: object, **options: object) -> None:
        raise AssertionError("the server's own process prepared a batch")

    # only the child (a spawned process, which this patch does not reach) can prepare
    monkeypatch.setattr(loader, "_prepare", refused)
    settings.web.load_interval_seconds = 3600  # the API's loads alone, not the poller's
    settings.web.serve_preparer = True
    token = create_token(store, "ops")
    with TestClient(create_app(settings, warehouse=store, stream=False)) as client:
        child = loader.start_preparer(wait=True)  # the one the server started: no other
        firefox = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0"}
        for page in ("a", "b"):
            url = f"/matomo.php?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2F{page}"
            client.get(url, headers=firefox)
        answer = client.post("/api/tracking/load", headers={"authorization": f"Bearer {token}"})
        assert answer.json()["loaded"] == 2
        client.get("/matomo.php?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2Fc", headers=firefox)
        answer = client.post("/api/tracking/load", headers={"authorization": f"Bearer {token}"})
        assert answer.json()["loaded"] == 1
        assert loader.start_preparer() == child  # the same child, kept between loads
    assert not loader._preparing()  # stopped with the server
    found = "SELECT count(*), count(DISTINCT url), count(browser_name), count(ip_key) FROM web.hits"
    assert store.rows(found) == [(3, 3, 3, 3)]


def test_stream_routes_are_mounted_behind_the_token(
    settings: Settings, store: Warehouse, monkeypatch
) -> None:
    import sys
    import types

    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    class Engine:
        stops = 0

        def stop(self) -> None:
            self.stops += 1

    engine = Engine()
    fake = types.ModuleType("tally.stream.http")
    fake.build_engine = lambda _settings: engine
    fake.routes = lambda built, prefix="/api": [
        Route(f"{prefix}/events", lambda _request: PlainTextResponse(type(built).__name__))
    ]
    monkeypatch.setitem(sys.modules, "tally.stream.http", fake)
    token = create_token(store, "sensors")
    with TestClient(create_app(settings, warehouse=store, run_loader=False)) as client:
        assert client.get("/api/events").status_code == 401
        answer = client.get("/api/events", headers={"authorization": f"Bearer {token}"})
        assert answer.text == "Engine"
        assert engine.stops == 0
    assert engine.stops == 1  # the app's shutdown stops the engine, not only the process exit
