"""The /reports page: the seed's other reports and the store figures, behind the login."""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.testclient import TestClient
from tests.reports.test_seedreports import MARTS
from tests.server.ui_support import cheap_hashes, dashboard_app, log_in

from tally.config import Settings
from tally.server.ui.seed_reports import panels_for
from tally.server.users import add_user
from tally.warehouse import connect

DAY = dt.date(2017, 1, 3)


@pytest.fixture
def store(tmp_path):
    settings = Settings(data_dir=str(tmp_path))
    warehouse = connect(settings.warehouse_url)
    warehouse.migrate()
    for statement in MARTS.split(";"):
        if statement.strip():
            warehouse.execute(statement)
    yield settings, warehouse
    warehouse.close()


def test_a_panel_per_table_with_the_workbooks_figures(store) -> None:
    _settings, warehouse = store
    panels = {p.key: p for p in panels_for(warehouse, "HK", "weekly", DAY)}
    assert list(panels) == [
        "yellow-yellow-report",
        "ad-ad-units",
        "ad-placements",
        "telco-telco",
        "content-window-content-window",
        "content-window-correlation",
    ]  # no store marts here: no store panels
    # the week of Jan 2: 60 of 300 web visitors watched a video (20 %), so far
    assert panels["yellow-yellow-report"].rows[0][2:6] == ["so far", 300, 60, "20.0 %"]
    assert panels["telco-telco"].rows[0][4:7] == [9, 8, -1]
    missing = panels_for(warehouse, "SG", "weekly", DAY)
    assert [p.columns for p in missing if p.key == "telco"] == [["not available"]]


def test_the_page_needs_a_login_and_shows_the_reports(store, monkeypatch) -> None:
    cheap_hashes(monkeypatch)
    settings, warehouse = store
    add_user(warehouse, "ada", "correct horse battery")
    with TestClient(dashboard_app(settings, warehouse)) as client:
        anonymous = client.get("/reports", follow_redirects=False)
        assert anonymous.status_code in (302, 303, 401)
        log_in(client, "ada", "correct horse battery")
        page = client.get("/reports", params={"country": "HK", "date": "2017-01-03"})
        assert page.status_code == 200
        assert (
            'id="panel-telco-telco"' in page.text
            and "Daily/Weekly/Monthly yellow report" in page.text
        )
        csv = client.get(
            "/reports", params={"country": "HK", "date": "2017-01-03", "csv": "ad-placements"}
        )
        assert csv.text.splitlines() == ["Placement,Ad units", "hk_banner,1", "iOS / Pre-roll,2"]
        assert client.get("/reports", params={"country": "XX"}).status_code == 400
        assert client.get("/reports", params={"date": "soon"}).status_code == 400
