"""Pivot tables written as OOXML parts: what the package holds, and the cells as drawn.

LibreOffice's refresh of these pivots is checked cell by cell in test_recalc.py.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tally.reports.subscription import write_subscription_report

NOW = dt.datetime(2026, 11, 27, 8, 30, tzinfo=dt.UTC)


@pytest.fixture
def weekly_hk(loaded_duckdb, settings, tmp_path) -> Path:
    written = write_subscription_report(
        loaded_duckdb, settings, "HK", "weekly", dt.date(2017, 1, 25), root=str(tmp_path), now=NOW
    )
    return Path(written.location)


def test_one_pivot_cache_and_table_per_metric(weekly_hk: Path) -> None:
    with zipfile.ZipFile(weekly_hk) as package:
        names = package.namelist()
        types = package.read("[Content_Types].xml").decode()
        workbook = package.read("xl/workbook.xml").decode()
        cache = package.read("xl/pivotCache/pivotCacheDefinition4.xml").decode()
        table = package.read("xl/pivotTables/pivotTable4.xml").decode()
    assert sum(n.startswith("xl/pivotTables/pivotTable") for n in names) == 4
    assert types.count("pivotCacheDefinition+xml") == 4 and types.count("pivotTable+xml") == 4
    assert workbook.count("<pivotCache ") == 4
    # Revenue (the 4th metric): its one HK weekly row, refreshed from the sheet on open.
    assert '<worksheetSource ref="A1:N2" sheet="Revenue"/>' in cache
    assert 'refreshOnLoad="1"' in cache and 'saveData="0"' in cache
    # Money: currency first on the rows, and no grand-total row adding currencies.
    assert 'rowGrandTotals="0"' in table and '<field x="9"/><field x="3"/><field x="5"/>' in table


def test_openpyxl_reads_the_pivots_back(weekly_hk: Path) -> None:
    book = openpyxl.load_workbook(weekly_hk)
    (pivot,) = book["Pivot Churn"]._pivots
    assert pivot.cache.cacheSource.worksheetSource.sheet == "Churn"
    assert pivot.location.ref == "A3:E10"  # caption, headers, 5 lines, total
    assert [f.x for f in pivot.rowFields] == [3, 5] and [f.x for f in pivot.colFields] == [4]


def test_pivot_cells_as_drawn(weekly_hk: Path) -> None:
    sheet = openpyxl.load_workbook(weekly_hk, data_only=True)["Pivot Churn"]
    rows = [row for row in sheet.iter_rows(min_row=3, values_only=True)]
    # HK weekly churn (fixture): 1/16 iOS P2 6, Redemption 1; 1/23 iOS P1 25, P2 5.
    assert rows[1][:2] == ("Platform", "Meta 1") and rows[1][4] == "Total Result"
    assert rows[2:] == [
        ("iOS IAP", None, 6, 30, 36),
        (None, "P1", None, 25, 25),
        (None, "P2", 6, 5, 11),
        ("Redemption", None, 1, None, 1),
        (None, "Samsung Galaxy Tablet Promotion", 1, None, 1),
        ("Total Result", None, 7, 30, 37),
    ]
    # Active subscribers are a stock: no total across weeks.
    active = openpyxl.load_workbook(weekly_hk, data_only=True)["Pivot Active subscriber"]
    assert "Total Result" not in [cell.value for cell in active[4]]
