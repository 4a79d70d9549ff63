"""The dashboard's analytics panels on the hand-worked analytics fixture
(tests/marts/test_revenue_marts.py explains every figure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.marts.conftest import STATUS_TABLE, TRANSACTIONS_TABLE, load_fixture_csv
from tests.marts.test_attribution_marts import build_attribution, load_visits
from tests.marts.test_cohort_marts import FIXTURES as COHORT_FIXTURES
from tests.marts.test_cohort_marts import MODELS as COHORT_MODELS
from tests.marts.test_revenue_marts import load_analytics_fixture

from tally.config import load_settings
from tally.lake import Lake
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.server.ui.subscription_analytics import (
    acquisition_channels,
    attribution_panel,
    converted_revenue_panel,
    ltv_panel,
    mrr_panels,
    retention_panel,
)
from tally.server.ui.subscriptions import Filters
from tally.warehouse import Warehouse, connect

NOVEMBER = Filters("monthly", dt.date(2026, 11, 1), dt.date(2026, 11, 1), "", "")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    folder: Path = tmp_path_factory.mktemp("analytics-ui")
    settings = load_settings(environ={"TALLY_DATA_DIR": str(folder / "data")})
    warehouse = connect(f"duckdb:///{folder / 'warehouse.duckdb'}")
    warehouse.migrate()
    load_analytics_fixture(warehouse)
    load_visits(warehouse)
    build_attribution(warehouse, settings, folder / "lake")
    yield warehouse
    warehouse.close()


def test_revenue_converted_before_countries_are_added(built: Warehouse) -> None:
    """November: HK 31.47 USD (EUR left out), SG 8 USD; the total is their sum."""
    panel = converted_revenue_panel(built, NOVEMBER)
    assert panel is not None
    assert panel.columns == ["period", "HK", "SG", "total"]
    assert panel.rows == [[dt.date(2026, 11, 1), 31.47, 8.0, 39.47]]
    assert "USD" in panel.title


def test_mrr_and_movements(built: Warehouse) -> None:
    """MRR on 30 Nov: HK 20.67 + SG 8 = 28.67 USD. Movements: New 36 + 18 = 54, Expansion
    6.93, Reactivation 10.67, Churn -33.80 - 18 = -51.80, Exchange rate 0.87; net 20.67
    (the SG MRR is 8 at both ends of the month, from F then from G)."""
    mrr, movements = mrr_panels(built, NOVEMBER)
    assert mrr.rows == [[dt.date(2026, 11, 1), 28.67, 344.04]]
    row = dict(zip(movements.columns, movements.rows[0], strict=True))
    assert row["New MRR"] == 54.0
    assert row["Expansion MRR"] == 6.93
    assert row["Reactivation MRR"] == 10.67
    assert row["Contraction MRR"] == 0.0
    assert row["Churn MRR"] == -51.8
    assert row["Exchange rate MRR"] == 0.87
    assert row["net"] == 20.67
    assert movements.chart is not None and movements.chart["layout"]["barmode"] == "relative"


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The cohort fixture (tests/marts/test_cohort_marts.py), reported in HKD: its own
    currency converts at 1, so the LTV panel has figures without a rate sheet."""
    folder: Path = tmp_path_factory.mktemp("cohorts-ui")
    environ = {"TALLY_DATA_DIR": str(folder / "data"), "TALLY_MARTS__REPORTING_CURRENCY": "HKD"}
    settings = load_settings(environ=environ)
    warehouse = connect(f"duckdb:///{folder / 'warehouse.duckdb'}")
    warehouse.migrate()
    load_fixture_csv(warehouse, COHORT_FIXTURES / "transactions.csv", TRANSACTIONS_TABLE)
    load_fixture_csv(warehouse, COHORT_FIXTURES / "status.csv", STATUS_TABLE)
    models = [m for m in discover_models() if m.table in COHORT_MODELS]
    build(Context(settings, warehouse, Lake(str(folder / "lake"))), models)
    yield warehouse
    warehouse.close()


def test_retention_heat_map(cohorts: Warehouse) -> None:
    """August: 3 of 3, 2, 1, 1 paying at ages 0..3; September 1 of 1 through age 2;
    October lost its one member at age 1; unknown cells are empty."""
    filters = Filters("monthly", dt.date(2026, 8, 1), dt.date(2026, 11, 1), "", "")
    panel = retention_panel(cohorts, filters)
    assert panel is not None
    assert panel.columns == ["cohort", "subscriptions", "month 0", "month 1", "month 2", "month 3"]
    assert panel.rows == [
        [dt.date(2026, 8, 1), 3, 100.0, 66.7, 33.3, 33.3],
        [dt.date(2026, 9, 1), 1, 100.0, 100.0, 100.0, None],
        [dt.date(2026, 10, 1), 1, 100.0, 0.0, None, None],
    ]
    assert panel.chart is not None and panel.chart["data"][0]["type"] == "heatmap"
    assert panel.chart["data"][0]["z"][2] == [100.0, 0.0, None, None]


def test_retention_heat_map_by_acquisition_channel(built: Warehouse) -> None:
    """The attribution fixture (tests/marts/test_attribution_marts.py), weekly cohorts: B,
    brought by a Google search, paid from 9 Nov, upgraded 15 Nov and churned 22 Nov: paying
    at weeks 0 and 1, not at 2 and 3. A (Facebook) pays all month."""
    assert acquisition_channels(built) == ["Search Engines", "Social Networks", "unattributed"]
    day = dt.date(2026, 11, 30)
    filters = Filters("weekly", dt.date(2026, 11, 2), day, "", "", "Search Engines")
    panel = retention_panel(built, filters)
    assert panel is not None and "acquired through Search Engines" in panel.title
    assert panel.rows == [[dt.date(2026, 11, 9), 1, 100.0, 100.0, 0.0, 0.0]]
    social = retention_panel(built, Filters("weekly", day, day, "", "", "Social Networks"))
    assert social is not None
    assert social.rows == [[dt.date(2026, 11, 2), 1, 100.0, 100.0, 100.0, 100.0]]


def test_ltv_by_cohort(cohorts: Warehouse) -> None:
    filters = Filters("monthly", dt.date(2026, 8, 1), dt.date(2026, 11, 1), "", "")
    panel = ltv_panel(cohorts, filters)
    assert panel is not None and "HKD" in panel.title
    assert panel.rows == [
        [dt.date(2026, 8, 1), 3, 233.33, 308.71],
        [dt.date(2026, 9, 1), 1, 350.0, 5450.0],
        [dt.date(2026, 10, 1), 1, 100.0, 100.0],
    ]


def test_revenue_by_channel_and_campaign(built: Warehouse) -> None:
    """Last touch, November (tests/marts/test_attribution_marts.py): B's campaign brought
    7.80 USD, A's Facebook visit 10 USD; the five unlinked subscriptions include E's EUR,
    which has no USD figure, so their USD revenue is empty rather than short."""
    panel = attribution_panel(built, NOVEMBER)
    assert panel is not None
    assert panel.rows == [
        ["(no linked visit)", "", 5, 0, 5, 0, None, None],
        ["Campaigns", "autumn-drama", 1, 1, 1, 1, 7.8, 7.8],
        ["Social Networks", "", 1, 1, 1, 1, 10.0, 10.0],
    ]
    assert panel.chart is not None
    assert panel.chart["data"][0]["y"][1] == "Campaigns: autumn-drama"
    assert panel.chart["data"][0]["x"] == [0.0, 7.8, 10.0]
