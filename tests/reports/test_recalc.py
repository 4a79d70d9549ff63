"""LibreOffice recalculates the workbooks: every formula must come out as tally cached it.

Also renders the Summary sheet to PNG (LibreOffice → PDF → pdftoppm) into test-artifacts/.
Needs Debian's libreoffice-calc and poppler-utils (skipped without them).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest

from tally.reports.fact import COLUMNS, TABLE
from tally.reports.recalc import recalculate, render_png
from tally.reports.subscription import write_subscription_report

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "reports"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not shutil.which("soffice"),
        reason="LibreOffice missing: apt-get install -y --no-install-recommends libreoffice-calc",
    ),
]

# Names that would break a careless SUMIFS criterion: wildcards, a leading comparison
# operator, quotes, a tilde. Each gets its own plan row in the SG monthly Summary.
TRICKY_PLANS = ["Gold*", "<10 days", 'Say "hi"', "a~b", "Plan?", "=1+1"]


def tricky_rows() -> pa.Table:
    records = []
    for index, plan in enumerate(TRICKY_PLANS):
        for month, value in ((dt.date(2016, 12, 1), 10 + index), (dt.date(2017, 1, 1), 20 + index)):
            records.append(
                ["Active subscriber", "monthly", "SG", "Web", month, plan]
                + ["Web", "Direct", "Paying", "", "", "", ""]
                + [float(value)]
            )
    # "Gold" must not be counted by "Gold*" (a wildcard would take it).
    records.append(
        ["Active subscriber", "monthly", "SG", "Web", dt.date(2017, 1, 1), "Gold extra"]
        + ["Web", "Direct", "Paying", "", "", "", "", 1000.0]
    )
    return pa.table({c: [r[i] for r in records] for i, c in enumerate(COLUMNS)})


def formula_cells(path: Path) -> dict[tuple[str, str], float]:
    """Cached value of every formula cell, by (sheet, cell)."""
    formulas = openpyxl.load_workbook(path)
    values = openpyxl.load_workbook(path, data_only=True)
    found = {}
    for sheet in formulas.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    found[(sheet.title, cell.coordinate)] = values[sheet.title][
                        cell.coordinate
                    ].value
    return found


def test_libreoffice_recalculation_equals_cached_values(loaded_duckdb, settings, tmp_path) -> None:
    loaded_duckdb.replace_partition(TABLE, tricky_rows(), {})
    day = dt.date(2017, 1, 25)
    books = [
        write_subscription_report(
            loaded_duckdb, settings, country, period, day, root=str(tmp_path / "out")
        ).location
        for country, period in (("HK", "weekly"), ("HK", "daily"), ("SG", "monthly"))
    ]
    sources = []
    for book in books:  # distinct names, as LibreOffice writes by file name
        renamed = tmp_path / "in" / f"{Path(book).parent.name}-{Path(book).name}"
        renamed.parent.mkdir(exist_ok=True)
        shutil.copy(book, renamed)
        sources.append(renamed)
    recalculated = recalculate(sources, tmp_path / "recalc")
    checked = 0
    for source, result in zip(sources, recalculated, strict=True):
        cached = formula_cells(source)
        fresh = openpyxl.load_workbook(result, data_only=True)
        assert cached, f"{source.name} has no formulas"
        for (sheet, cell), value in cached.items():
            assert fresh[sheet][cell].value == pytest.approx(value, abs=1e-9), (
                f"{source.name} {sheet}!{cell}: LibreOffice {fresh[sheet][cell].value}, "
                f"tally cached {value}"
            )
            checked += 1
        assert_same_cells(source, result)  # and every other cell, every sheet
    # The SG monthly sheet has one plan row per tricky name, each exactly its own value
    # (January: 20 + index), not a wildcard or comparison match.
    sg = openpyxl.load_workbook(recalculated[2], data_only=True)["Summary"]
    plan_values = {
        sg.cell(row, 1).value: sg.cell(row, 13).value for row in range(6, sg.max_row + 1)
    }
    for index, plan in enumerate(TRICKY_PLANS):
        assert plan_values[plan] == 20 + index
    assert checked > 100


def test_partial_period_workbook_recalculates_to_cached(
    duckdb_warehouse, partial_rows, settings, tmp_path
) -> None:
    # Blanks before the data, the same-days column, per-currency SUMIFS, rates: all as cached.
    duckdb_warehouse.replace_partition(TABLE, partial_rows, {})
    written = write_subscription_report(
        duckdb_warehouse,
        settings,
        "SG",
        "monthly",
        dt.date(2017, 1, 3),
        root=str(tmp_path / "out"),
        period_count=4,
    )
    source = Path(written.location)
    (result,) = recalculate([source], tmp_path / "recalc")
    assert_same_cells(source, result)


def assert_same_cells(source: Path, result: Path) -> int:
    """Every cell of every sheet: LibreOffice's recalculated value equals tally's cached one."""
    cached = openpyxl.load_workbook(source, data_only=True)
    fresh = openpyxl.load_workbook(result, data_only=True)
    checked = 0
    for sheet in cached.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                got = fresh[sheet.title][cell.coordinate].value
                want = cell.value
                if isinstance(want, float) or isinstance(got, float):
                    assert got == pytest.approx(want, abs=1e-9), (sheet.title, cell.coordinate)
                else:
                    assert got == want, (sheet.title, cell.coordinate, got, want)
                checked += 1
    return checked


def test_summary_renders_to_png(loaded_duckdb, settings, tmp_path) -> None:
    written = write_subscription_report(
        loaded_duckdb,
        settings,
        "HK",
        "weekly",
        dt.date(2017, 1, 25),
        root=str(tmp_path),
        period_count=3,
    )
    png = render_png(Path(written.location), tmp_path / "render")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    kept = ARTIFACTS / "summary-hk-weekly.png"
    shutil.copy(png, kept)
    data = kept.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


USER_QUESTIONS = [
    # Churn, HK weekly (fixture): iOS 6 + 30 = 36; iOS on 1/23: 25 + 5 = 30; P2 6 + 5 = 11.
    '=GETPIVOTDATA("value",\'Pivot Churn\'!$A$3,"Platform","iOS IAP")',
    '=GETPIVOTDATA("value",\'Pivot Churn\'!$A$3,"Platform","iOS IAP","Start Date","2017-01-23")',
    '=GETPIVOTDATA("value",\'Pivot Churn\'!$A$3,"Meta 1","P2")',
    "=GETPIVOTDATA(\"Sum of value\",'Pivot Churn'!$A$5)",
    # Active on 1/16: iOS 180 + Redemption 12 = 192.
    '=GETPIVOTDATA("value",\'Pivot Active subscriber\'!$B$6,"Start Date","2017-01-16")',
    # No Telco rows: #REF! in both.
    '=GETPIVOTDATA("value",\'Pivot Churn\'!$A$3,"Platform","Telco")',
]


def test_user_getpivotdata_on_default_pivots_recalculates_to_cached(
    loaded_duckdb, settings, tmp_path
) -> None:
    # An analyst adds GETPIVOTDATA cells to a default workbook and uses it as the template
    # of the next report: tally caches each answer, LibreOffice refreshes the pivots and
    # computes the cells itself, and the two agree.
    day = dt.date(2017, 1, 25)
    first = write_subscription_report(
        loaded_duckdb, settings, "HK", "weekly", day, root=str(tmp_path / "first")
    )
    template = tmp_path / "analyst.xlsx"
    book = openpyxl.load_workbook(first.location)
    questions = book.create_sheet("Questions")
    for row, formula in enumerate(USER_QUESTIONS, start=1):
        questions.cell(row, 1, formula)
    book.save(template)
    second = write_subscription_report(
        loaded_duckdb,
        settings,
        "HK",
        "weekly",
        day,
        root=str(tmp_path / "second"),
        template=template,
    )
    (result,) = recalculate([Path(second.location)], tmp_path / "recalc")
    cached = openpyxl.load_workbook(second.location, data_only=True)["Questions"]
    fresh = openpyxl.load_workbook(result, data_only=True)["Questions"]
    assert [cached.cell(r, 1).value for r in range(1, 7)] == [36, 30, 11, 37, 192, "#REF!"]
    for row in range(1, len(USER_QUESTIONS) + 1):
        assert fresh.cell(row, 1).value == cached.cell(row, 1).value, USER_QUESTIONS[row - 1]
