"""Generated workbooks read back with openpyxl: sheets, headers, rows, formulas, cached values."""

from __future__ import annotations

import datetime as dt
import re
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
    data = ["Active subscriber", "New subscriber", "Churn", "Revenue"]
    assert book.sheetnames == ["Summary", *data, *(f"Pivot {name}" for name in data)]
    for name in data:
        sheet = book[name]
        assert [cell.value for cell in sheet[1]] == list(HEADERS)
        assert sheet.freeze_panes == "A2"
        (table,) = sheet.tables.values()
        assert table.ref == f"A1:N{sheet.max_row}"
    # 11 weekly HK active rows in the fixture → header + 11.
    assert book["Active subscriber"].max_row == 12


def test_data_rows_equal_the_warehouse(loaded, weekly_hk: Path) -> None:
    book = openpyxl.load_workbook(weekly_hk)
    for name in book.sheetnames[1:5]:
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
    # The newest loaded day (HK's newest daily row), not the newest week's Monday.
    assert (
        "Data loaded to 2017-01-25" in cached["A2"].value
        and "2026-11-27 08:30" in cached["A2"].value
    )
    assert "week of 2017-01-23 is partial: 3 day(s), to 2017-01-25" in cached["A4"].value
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
    # Hand numbers (see test_summary): P1 120, 135, 120; total 180, 192, 175.
    assert [cached.cell(8, c).value for c in (2, 3, 4)] == [120, 135, 120]
    assert [cached.cell(12, c).value for c in (2, 3, 4)] == [180, 192, 175]
    # The week of 1/23 holds 3 days: its header says so and its cells are marked; the same
    # days of the week before (1/16-1/18) have no daily rows, so no base: Change is empty
    # rather than a comparison of 3 days with 7.
    assert formulas.cell(5, 4).number_format == 'yyyy-mm-dd" (partial)"'
    assert formulas.cell(12, 4).font.i and formulas.cell(12, 4).fill.fgColor.rgb == "FFFFF2CC"
    assert [cached.cell(5, c).value for c in (5, 6, 7)] == [
        "Same days before",
        "Change",
        "Change %",
    ]
    assert [cached.cell(12, c).value for c in (5, 6, 7)] == [None, None, None]
    assert cached.cell(12, 2).number_format == "#,##0"


def test_charts_carry_cached_series(weekly_hk: Path) -> None:
    with zipfile.ZipFile(weekly_hk) as package:
        charts = sorted(n for n in package.namelist() if n.startswith("xl/charts/chart"))
        assert charts == ["xl/charts/chart1.xml", "xl/charts/chart2.xml"]
        line = package.read("xl/charts/chart1.xml").decode()
        assert "<c:lineChart>" in line and "Summary!$B$12:$D$12" in line
        # Viewers that never recalculate draw the cached points: 180, 192, 175.
        points = re.findall(r"<c:pt idx=\"\d\"><c:v>([^<]*)</c:v>", line)
        assert [float(p) for p in points[-3:]] == [180, 192, 175]


def test_print_setup_and_integer_formats_on_every_sheet(weekly_hk: Path) -> None:
    book = openpyxl.load_workbook(weekly_hk)
    for sheet in book.worksheets:
        assert sheet.page_setup.orientation == "landscape", sheet.title
        # One page wide (fitToWidth's default, 1), as many pages down as it takes.
        assert sheet.page_setup.fitToHeight == 0 and sheet.sheet_properties.pageSetUpPr.fitToPage
        assert "Page &P of &N" in sheet.oddFooter.center.text
    assert book["Active subscriber"].print_title_rows == "$1:$1"
    with zipfile.ZipFile(weekly_hk) as package:
        styles = package.read("xl/styles.xml").decode()
    assert "#,##0.##" not in styles  # shows 4488 as "4,488." in Excel


def test_partial_month_currency_and_blanks(
    duckdb_warehouse, partial_rows, settings, tmp_path
) -> None:
    duckdb_warehouse.replace_partition(TABLE, partial_rows, {})
    written = write_subscription_report(
        duckdb_warehouse,
        settings,
        "SG",
        "monthly",
        dt.date(2017, 1, 3),
        root=str(tmp_path),
        period_count=4,
        now=NOW,
    )
    formulas = openpyxl.load_workbook(written.location)["Summary"]
    cached = openpyxl.load_workbook(written.location, data_only=True)["Summary"]
    labels = [cached.cell(r, 1).value for r in range(6, cached.max_row + 1)]
    row = 6 + labels.index("New subscriber") + 3  # section, Web, W1, Total
    # Columns: B Oct (before the data: blank), C Nov, D Dec, E Jan (partial), F same days,
    # G Change, H Change %. Numbers from test_summary's hand working.
    assert [cached.cell(row, c).value for c in range(2, 9)] == [
        None,
        50,
        109,
        7,
        9,
        -2,
        pytest.approx(7 / 9 - 1),
    ]
    assert formulas.cell(row, 2).value is None
    assert formulas.cell(row, 7).value == f"=E{row}-F{row}"
    assert formulas.cell(row, 8).value == f"=E{row}/F{row}-1"
    sgd = 6 + labels.index("Revenue (SGD)")
    assert labels[sgd - 6 + 3] == "Total" and cached.cell(sgd + 3, 5).value == 10.5
    assert cached.cell(sgd + 3, 5).number_format == '#,##0.00 "SGD"'
    assert "'Revenue'!$J$2:$J$3,\"=SGD\"" in formulas.cell(sgd + 3, 5).value
    assert cached.cell(sgd + 3, 8).value is None  # base 0: Change % empty
    assert "Revenue (USD)" in labels


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


def test_plan_change_has_its_sheet_pivot_and_section(duckdb_warehouse, settings, tmp_path) -> None:
    # Two flows of one SG month: 4 new subscribers, 2 plan changes (W1 → W2 counted on W2).
    records = [
        ["New subscriber", "monthly", "SG", "Web", dt.date(2017, 1, 1), "W1"] + [""] * 7 + [4.0],
        ["Plan change", "monthly", "SG", "Web", dt.date(2017, 1, 1), "W2"] + [""] * 7 + [2.0],
    ]
    rows = pa.table({c: [r[i] for r in records] for i, c in enumerate(COLUMNS)})
    duckdb_warehouse.replace_partition(TABLE, rows, {})
    written = write_subscription_report(
        duckdb_warehouse,
        settings,
        "SG",
        "monthly",
        dt.date(2017, 1, 31),
        root=str(tmp_path),
        period_count=2,
    )
    book = openpyxl.load_workbook(written.location)
    assert book.sheetnames == [
        "Summary",
        "New subscriber",
        "Plan change",
        "Pivot New subscriber",
        "Pivot Plan change",
    ]
    cached = openpyxl.load_workbook(written.location, data_only=True)["Summary"]
    labels = [cached.cell(r, 1).value for r in range(6, cached.max_row + 1)]
    total = 6 + labels.index("Plan change") + 3  # section, Web, W2, Total
    assert cached.cell(total, 1).value == "Total" and cached.cell(total, 3).value == 2
