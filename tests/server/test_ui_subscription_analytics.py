"""The dashboard's analytics panels on the hand-worked analytics fixture
(tests/marts/test_revenue_marts.py explains every figure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.marts.test_revenue_marts import build_analytics, load_analytics_fixture

from tally.config import load_settings
from tally.server.ui.subscription_analytics import converted_revenue_panel, mrr_panels
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
    build_analytics(warehouse, settings, folder / "lake")
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
