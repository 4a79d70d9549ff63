"""The workbook's analytics sheets on the hand-worked cohort fixture
(tests/marts/test_cohort_marts.py explains every figure), reported in HKD."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from tests.marts.conftest import STATUS_TABLE, TRANSACTIONS_TABLE, load_fixture_csv
from tests.marts.test_attribution_marts import build_attribution, load_visits
from tests.marts.test_cohort_marts import FIXTURES, MODELS
from tests.marts.test_revenue_marts import load_analytics_fixture

from tally.config import load_settings
from tally.lake import Lake
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.reports.analytics import analytics_sheets, attribution_sheet, write_sheets
from tally.reports.workbook import Styles
from tally.warehouse import Warehouse, connect

D = dt.date


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    folder: Path = tmp_path_factory.mktemp("analytics-sheets")
    environ = {"TALLY_DATA_DIR": str(folder / "data"), "TALLY_MARTS__REPORTING_CURRENCY": "HKD"}
    warehouse = connect(f"duckdb:///{folder / 'warehouse.duckdb'}")
    warehouse.migrate()
    load_fixture_csv(warehouse, FIXTURES / "transactions.csv", TRANSACTIONS_TABLE)
    load_fixture_csv(warehouse, FIXTURES / "status.csv", STATUS_TABLE)
    models = [m for m in discover_models() if m.table in MODELS]
    context = Context(load_settings(environ=environ), warehouse, Lake(str(folder / "lake")))
    build(context, models)
    yield warehouse
    warehouse.close()


def test_sheets_from_the_marts(built: Warehouse) -> None:
    sheets = {s.name: s for s in analytics_sheets(built, "HK", "monthly", D(2026, 11, 30))}
    assert list(sheets) == [
        "Cohorts",
        "Cohorts by channel",
        "LTV",
        "Trials",
    ]  # no subscription_fact built here
    cohorts = sheets["Cohorts"]
    assert cohorts.header == [
        "cohort",
        "retention",
        "subscriptions",
        *[f"month {a}" for a in range(4)],
    ]
    # August: 3, 2, 1, 1 of 3 paying; MRR 300, 200, 100, 100 of 300
    assert cohorts.rows[0] == [D(2026, 8, 1), "subscribers", 3, 100.0, 66.7, 33.3, 33.3]
    assert cohorts.rows[1] == [D(2026, 8, 1), "revenue (MRR)", 3, 100.0, 66.7, 33.3, 33.3]
    # September: the new price at age 2 is 150 % of the first MRR
    assert cohorts.rows[3] == [D(2026, 9, 1), "revenue (MRR)", 1, 100.0, 100.0, 150.0, None]
    # no web visits in this fixture: every cohort is 'unattributed'
    assert sheets["Cohorts by channel"].rows[0] == [
        D(2026, 8, 1),
        "unattributed",
        3,
        100.0,
        66.7,
        33.3,
        33.3,
    ]
    assert sheets["LTV"].rows[0] == [D(2026, 8, 1), 3, 3, 233.33, 308.71]
    assert sheets["Trials"].rows == [[D(2026, 10, 1), 2, 2, 1, 50.0]]
    assert (
        sheets["Cohorts"].rows
        and analytics_sheets(built, "SG", "monthly", D(2026, 11, 30))[0].rows == []
    )


def test_sheets_written_to_a_workbook(built: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "analytics.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    write_sheets(book, analytics_sheets(built, "HK", "monthly", D(2026, 11, 30)), Styles(book))
    book.close()
    read = openpyxl.load_workbook(path)
    assert read.sheetnames == ["Cohorts", "Cohorts by channel", "LTV", "Trials"]
    ltv = read["LTV"]
    assert [c.value for c in ltv[4]] == [
        "cohort",
        "subscriptions",
        "months known",
        "realised LTV",
        "projected LTV (36 m)",
    ]
    assert [c.value for c in ltv[5]][1:] == [3, 3, 233.33, 308.71]
    assert ltv["A5"].value.date() == D(2026, 8, 1)


def test_attribution_sheet(tmp_path: Path) -> None:
    """The attribution fixture (tests/marts/test_attribution_marts.py), HK, November: the
    last touch first, then the first touch; B's 7.80 USD under its campaign, then under
    its Google search."""
    warehouse = connect(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    warehouse.migrate()
    load_analytics_fixture(warehouse)
    load_visits(warehouse)
    build_attribution(warehouse, load_settings(environ={}), tmp_path / "lake")
    sheet = attribution_sheet(warehouse, "HK", "monthly", D(2026, 11, 30))
    assert sheet.rows[:3] == [
        ["Last touch", "(no linked visit)", "", 3, 0, 3, 0, None, None],
        ["Last touch", "Campaigns", "autumn-drama", 1, 1, 1, 1, 7.8, 7.8],
        ["Last touch", "Social Networks", "", 1, 1, 1, 1, 10.0, 10.0],
    ]
    assert ["First touch", "Search Engines", "", 1, 1, 1, 1, 7.8, 7.8] in sheet.rows
    warehouse.close()
