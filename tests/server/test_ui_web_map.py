"""The real-time map on the Flow site of tests/web/reporting_flow_site.py (its docstring lists
the visits W0-W4 counted below)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from tests.server.ui_support import PASSWORD, cheap_hashes, dashboard_app, log_in
from tests.web.reporting_flow_site import hong_kong, site_fixture

from tally.config import Settings
from tally.server.ui.web_map import by_country, minutes_of, real_time_map
from tally.server.ui.web_view import Site, View
from tally.server.users import add_user
from tally.warehouse import Warehouse, connect
from tally.web.reporting import call
from tally.web.reporting.periods import Span
from tally.web.sites import add_site

DAY = dt.date(2026, 3, 10)
NOW = hong_kong("2026-03-10", "16:05")


@pytest.fixture(scope="module", params=["duckdb"])
def site(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    yield from site_fixture(request)


def _view(site: Warehouse, segment: str = "") -> View:
    return View(
        site, Site(1, "Flow", "Asia/Hong_Kong"), "day", str(DAY), segment, Span("day", DAY, DAY)
    )


def test_last_24_hours_by_place_and_country(site: Warehouse) -> None:
    panel = real_time_map(_view(site), 1440, now=NOW)[0]
    # 24 hours back from 16:05 on the 10th reaches 16:05 on the 9th: W1-W4, not W0 (7th).
    # Hong Kong: W1 (6 actions) + W4 (1); Kowloon: W3 (3); Singapore: W2 (4).
    assert [row[:5] for row in panel.rows] == [
        ["Hong Kong, HK", "HK", "Hong Kong", 2, 7],
        ["Kowloon, HK", "HK", "Kowloon", 1, 3],
        ["Singapore, SG", "SG", "Singapore", 1, 4],
    ]
    api = call(
        site, "UserCountryMap.getRealTimeVisits", {"idSite": "1", "lastMinutes": "1440"}, now=NOW
    )
    assert [row[3] for row in panel.rows] == [r["nb_visits"] for r in api]
    shaded, countries, cities = panel.chart["data"]
    # Countries by ISO alpha-3: Hong Kong 2 + 1 visits, Singapore 1.
    assert dict(zip(shaded["locations"], shaded["z"], strict=True)) == {"HKG": 3, "SGP": 1}
    assert countries["locations"] == ["HKG", "SGP"]  # a bubble each: small on a world map
    assert len(cities["lat"]) == 3  # every city has coordinates in the fixture
    assert panel.chart["layout"]["geo"]["resolution"] == 50  # the bundled world_50m.json


def test_last_30_minutes_and_segment(site: Warehouse) -> None:
    # Since 15:35: only W4 (16:00, Hong Kong, one action).
    rows = real_time_map(_view(site), 30, now=NOW)[0].rows
    assert [row[:5] for row in rows] == [["Hong Kong, HK", "HK", "Hong Kong", 1, 1]]
    assert rows[0][7] == dt.datetime(2026, 3, 10, 8, 0)  # 16:00 in Hong Kong is 08:00 UTC
    # W2 is the only Android visit of the day
    android = real_time_map(_view(site, "operatingSystemName==Android"), 1440, now=NOW)[0]
    assert [row[0] for row in android.rows] == ["Singapore, SG"]


def test_an_empty_window_still_draws_the_map(site: Warehouse) -> None:
    panel = real_time_map(_view(site), 30, now=NOW + dt.timedelta(days=1))[0]
    assert panel.rows == [] and panel.chart["data"][0]["locations"] == []
    assert by_country([{"countryCode": "xx", "nb_visits": 5}]) == {}  # unknown: not placed
    assert (minutes_of("1440"), minutes_of("45"), minutes_of("")) == (1440, 30, 30)


def test_page_fragment_csv_and_topojson(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A warehouse of its own: the module's Flow site is held by one connection (session).
    cheap_hashes(monkeypatch)
    store = connect(settings.warehouse_url)
    store.migrate()
    add_site(store, "Empty", ["https://empty.example.com"], "UTC")
    add_user(store, "mapper", PASSWORD, admin=True)
    with TestClient(dashboard_app(settings, store)) as client:
        topojson = client.get("/ui/static/topojson/world_50m.json")  # no login needed
        assert topojson.status_code == 200
        assert "countries" in json.loads(topojson.content)["objects"]
        log_in(client, "mapper")
        page = client.get("/web/realtime-map", params={"idSite": "1", "minutes": "1440"})
        assert page.status_code == 200
        assert 'data-source="/web/realtime/map?idSite=1&amp;minutes=1440"' in page.text
        assert "cdn.plot.ly" not in page.text
        fragment = client.get("/web/realtime/map", params={"idSite": "1", "minutes": "30"})
        assert fragment.status_code == 200 and 'id="panel-map"' in fragment.text
        assert "<html" not in fragment.text  # panels only, for the page to swap in
        answer = client.get("/web/realtime-map", params={"idSite": "1", "csv": "map"})
        assert answer.text.splitlines() == [
            "place,country,city,visits,actions,latitude,longitude,last action (UTC)"
        ]  # no visits on this site
        assert client.get("/web/realtime/map", params={"idSite": "9"}).status_code == 404
    store.close()
