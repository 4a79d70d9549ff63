"""The subscriptions dashboard on a hand-written marts.report_fact of two days."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.server.ui_support import cheap_hashes, dashboard_app, log_in

from tally.config import Settings
from tally.server.ui.subscriptions import Filters, all_panels, step_back
from tally.server.users import add_user
from tally.warehouse import Warehouse, connect

# type, country, platform, plan, channel, payment status, currency, day, value
FACTS = [
    ("Active subscriber", "HK", "iOS IAP", "PREMIUM_M", "App Store", "Paying", None, 1, 100),
    ("Active subscriber", "SG", "Android IAP", "PREMIUM_M", "Google Play", "Paying", None, 1, 50),
    ("New subscriber", "HK", "iOS IAP", "PREMIUM_M", "App Store", "Paying", None, 1, 10),
    ("Churn", "HK", "iOS IAP", "PREMIUM_M", "App Store", "Paying", None, 1, 4),
    ("Revenue", "HK", "iOS IAP", "PREMIUM_M", "App Store", None, "HKD", 1, 680),
    ("Active subscriber", "HK", "iOS IAP", "PREMIUM_M", "App Store", "Paying", None, 2, 110),
    ("Active subscriber", "SG", "Android IAP", "PREMIUM_M", "Google Play", "Paying", None, 2, 48),
    ("New subscriber", "HK", "iOS IAP", "PREMIUM_M", "App Store", "Paying", None, 2, 15),
    ("New subscriber", "SG", "Android IAP", "PREMIUM_M", "Google Play", "Paying", None, 2, 2),
    ("Churn", "HK", "iOS IAP", "PREMIUM_M", "App Store", "Paying", None, 2, 5),
    ("Churn", "SG", "Android IAP", "PREMIUM_M", "Google Play", "Paying", None, 2, 4),
    ("Trial conversion", "HK", "iOS IAP", "PREMIUM_M", "App Store", "Paying", None, 2, 3),
    ("Revenue", "HK", "iOS IAP", "PREMIUM_M", "App Store", None, "HKD", 2, 1020),
]
DAY_ONE, DAY_TWO = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


def _facts(warehouse: Warehouse) -> None:
    with warehouse.session():  # one opening of the file for every insert
        warehouse.execute(
            "CREATE TABLE marts.report_fact (type VARCHAR, resolution_type VARCHAR, "
            "country VARCHAR, platform VARCHAR, start_date DATE, meta_1 VARCHAR, meta_2 VARCHAR, "
            "meta_3 VARCHAR, meta_4 VARCHAR, meta_5 VARCHAR, meta_6 VARCHAR, meta_7 VARCHAR, "
            "meta_8 VARCHAR, value DOUBLE)"
        )
        for kind, country, platform, plan, channel, payment, currency, day, value in FACTS:
            warehouse.execute(
                "INSERT INTO marts.report_fact VALUES (?, 'daily', ?, ?, ?, ?, ?, 'Store', ?, ?, "
                "NULL, NULL, NULL, ?)",
                [kind, country, platform, dt.date(2026, 3, day), plan, channel, payment, currency,
                 value],
            )  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Warehouse]]:
    folder = tmp_path_factory.mktemp("subs-ui")
    settings = Settings(data_dir=str(folder))
    warehouse = connect(settings.warehouse_url)
    warehouse.migrate()
    _facts(warehouse)
    reports = Path(settings.data_dir) / "reports" / "subscription-report" / "daily"
    reports.mkdir(parents=True)
    (reports / "subscription-hk-2026-03-02.xlsx").write_bytes(b"PK\x03\x04 workbook")
    yield settings, warehouse
    warehouse.close()


def test_kpis_against_the_day_before(store: tuple[Settings, Warehouse]) -> None:
    kpis, _panels = all_panels(store[1], Filters("daily", DAY_ONE, DAY_TWO, "", ""))
    found = {k.label: (k.value, k.previous) for k in kpis}
    assert found["Active subscribers"] == (158, 150)  # 110 + 48 vs 100 + 50
    assert found["New subscribers"] == (17, 10)
    assert found["Churn"] == (9, 4)
    # Churn rate: 9 churned out of the 150 active at the end of the day before = 6 %;
    # the day before has no earlier stock in the data, so no rate to compare with.
    assert found["Churn rate"][0] == pytest.approx(6.0) and found["Churn rate"][1] is None
    assert found["Trial conversions"] == (3, 0)
    assert found["Revenue (HKD)"] == (1020, 680)
    change = {k.label: k.change for k in kpis}
    assert change["New subscribers"] == pytest.approx(70.0)  # 17 / 10 - 1
    assert change["Trial conversions"] is None  # nothing to compare with
    good = {k.label: k.good for k in kpis}
    assert good["New subscribers"] is True and good["Churn"] is False  # churn went up


def test_country_filter_and_breakdowns(store: tuple[Settings, Warehouse]) -> None:
    kpis, panels = all_panels(store[1], Filters("daily", DAY_ONE, DAY_TWO, "HK", ""))
    assert {k.label: k.value for k in kpis}["Active subscribers"] == 110
    _kpis, panels = all_panels(store[1], Filters("daily", DAY_ONE, DAY_TWO, "", ""))
    by_platform = next(p for p in panels if p.key == "by-platform")
    assert by_platform.rows == [["iOS IAP", 110, 15, 5], ["Android IAP", 48, 2, 4]]


def test_step_back_over_month_ends() -> None:
    assert step_back(dt.date(2026, 1, 1), "monthly") == dt.date(2025, 12, 1)
    assert step_back(dt.date(2026, 3, 2), "weekly", 2) == dt.date(2026, 2, 16)


def test_page_csv_and_report_download(
    store: tuple[Settings, Warehouse], monkeypatch: pytest.MonkeyPatch
) -> None:
    cheap_hashes(monkeypatch)
    settings, warehouse = store
    add_user(warehouse, "ada", "correct horse battery", admin=True)
    with TestClient(dashboard_app(settings, warehouse)) as client:
        log_in(client, "ada", "correct horse battery")
        page = client.get("/subscriptions", params={"from": "2026-03-01", "to": "2026-03-02"})
        assert page.status_code == 200
        assert 'data-kpi="Active subscribers"' in page.text and ">158<" in page.text
        answer = client.get(
            "/subscriptions",
            params={"from": "2026-03-01", "to": "2026-03-02", "csv": "active"},
        )
        assert list(csv.reader(io.StringIO(answer.text))) == [
            ["period", "active"],
            ["2026-03-01", "150.0"],
            ["2026-03-02", "158.0"],
        ]
        link = "/subscriptions/reports/daily/subscription-hk-2026-03-02.xlsx"
        assert link in page.text
        download = client.get(link)
        assert download.status_code == 200 and download.content == b"PK\x03\x04 workbook"
        assert client.get("/subscriptions/reports/daily/..%2F..%2Fserver-secret").status_code == 404


def test_the_same_figures_on_each_backend(warehouse: Warehouse) -> None:
    _facts(warehouse)
    kpis, panels = all_panels(warehouse, Filters("daily", DAY_ONE, DAY_TWO, "", ""))
    assert {k.label: k.value for k in kpis}["Active subscribers"] == 158
    by_platform = next(p for p in panels if p.key == "by-platform")
    assert by_platform.rows == [["iOS IAP", 110, 15, 5], ["Android IAP", 48, 2, 4]]
