"""Generated workbooks read back with openpyxl: sheets, headers, rows, formulas, cached values."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest

from tally.reports.fact import COLUMNS, HEADERS, TABLE
from tally.reports.subscription import write_subscription_report
from tally.reports.workbook import criterion, sheet_name, sumifs

NOW = dt.datetime(2026, 11, 27, 8, 30, tzinfo=dt.UTC)


@pytest.fixture
def weekly_hk(loaded, settings, tmp_path) -> Path:
    written = write_subscription_report(
        loaded,
        settings,
        "HK",
        "weekly",
        dt.date(2017, 1, 25),
        root=str(tmp_path / "out"),
        period_count=3,
        now=NOW,
    )
    return Path(written.location)


def test_sheets_tables_and_headers(weekly_hk: Path) -> None:
    book = openpyxl.load_workbook(weekly_hk)
    assert book.sheetnames == ["Summary", "Active subscriber", "New subscriber", "Churn", "Revenue"]
    for name in book.sheetnames[1:]:
        sheet = book[name]
        assert [cell.value for cell in sheet[1]] == list(HEADERS)
        assert sheet.freeze_panes == "A2"
        (table,) = sheet.tables.values()
        assert table.ref == f"A1:N{sheet.max_row}"
    # 11 weekly HK active rows in the fixture → header + 11.
    assert book["Active subscriber"].max_row == 12


def test_data_rows_equal_the_warehouse(loaded, weekly_hk: Path) -> None:
    book = openpyxl.load_workbook(weekly_hk)
    for name in book.sheetnames[1:]:
        expected = loaded.rows(
            f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE type = ? AND country = 'HK' "
            "AND resolution_type = 'weekly' "
            "ORDER BY start_date, platform, meta_1, meta_2, meta_3, meta_4",
            [name],
        )
        got = []
        for row in book[name].iter_rows(min_row=2, values_only=True):
            start = row[4].date() if isinstance(row[4], dt.datetime) else row[4]
            # Empty text is written as an empty cell, which reads back as None.
            got.append(
                tuple(v or "" for v in row[:4])
                + (start,)
                + tuple(v or "" for v in row[5:13])
                + (row[13],)
            )
        assert got == [tuple("" if v is None else v for v in row) for row in expected]


def test_summary_formulas_with_cached_values(weekly_hk: Path) -> None:
    formulas = openpyxl.load_workbook(weekly_hk)["Summary"]
    cached = openpyxl.load_workbook(weekly_hk, data_only=True)["Summary"]
    assert "Hong Kong (HK), weekly, week of 2017-01-23" in cached["A1"].value
    assert (
        "Data fresh to 2017-01-23" in cached["A2"].value
        and "2026-11-27 08:30" in cached["A2"].value
    )
    assert formulas.freeze_panes == "B6"
    assert [cached.cell(5, c).value.date() for c in (2, 3, 4)] == [
        dt.date(2017, 1, 9),
        dt.date(2017, 1, 16),
        dt.date(2017, 1, 23),
    ]
    labels = {cached.cell(r, 1).value: r for r in range(6, 12)}
    # Row layout: 6 section, 7 iOS IAP, 8 P1, 9 P2, 10 Redemption, 11 Samsung, 12 Total.
    assert cached["A6"].value == "Active subscriber" and labels["P1"] == 8
    assert formulas["B8"].value == (
        "=SUMIFS('Active subscriber'!$N$2:$N$12,'Active subscriber'!$E$2:$E$12,B$5,"
        "'Active subscriber'!$D$2:$D$12,\"=iOS IAP\",'Active subscriber'!$F$2:$F$12,\"=P1\")"
    )
    # Hand numbers (see test_summary): P1 120, 135, 120; total 180, 192, 175; change -17.
    assert [cached.cell(8, c).value for c in (2, 3, 4)] == [120, 135, 120]
    assert [cached.cell(12, c).value for c in (2, 3, 4, 5)] == [180, 192, 175, -17]
    assert cached.cell(12, 6).value == pytest.approx(175 / 192 - 1)
    assert formulas.cell(12, 6).value == "=IF(C12=0,0,D12/C12-1)"
    assert cached.cell(12, 2).number_format == "#,##0"


def test_charts_are_in_the_package(weekly_hk: Path) -> None:
    with zipfile.ZipFile(weekly_hk) as package:
        charts = sorted(n for n in package.namelist() if n.startswith("xl/charts/chart"))
        assert charts == ["xl/charts/chart1.xml", "xl/charts/chart2.xml"]
        line = package.read("xl/charts/chart1.xml").decode()
        assert "<c:lineChart>" in line and "Summary!$B$12:$D$12" in line


def test_formula_looking_text_stays_text(duckdb_warehouse, settings, tmp_path) -> None:
    values = ["Churn", "monthly", "SG", "Web", dt.date(2017, 1, 1), "=1+1"] + [""] * 7 + [3.0]
    hostile = pa.table({column: [value] for column, value in zip(COLUMNS, values, strict=True)})
    duckdb_warehouse.replace_partition(TABLE, hostile, {})
    written = write_subscription_report(
        duckdb_warehouse,
        settings,
        "SG",
        "monthly",
        dt.date(2017, 1, 2),
        root=str(tmp_path),
        period_count=2,
    )
    sheet = openpyxl.load_workbook(written.location)["Churn"]
    assert sheet["F2"].value == "=1+1" and sheet["F2"].data_type == "s"


def test_criteria_match_exactly() -> None:
    # '=' keeps a leading '<' literal; '~' escapes Excel's wildcards; quotes are doubled.
    assert criterion('<5*"x"?') == '"=<5~*""x""~?"'
    assert sumifs("Churn", 0, 1, None, None) == "=SUMIFS('Churn'!$N$2:$N$2,'Churn'!$E$2:$E$2,B$5)"
    assert sheet_name("Refund: web/app") == "Refund_ web_app"
