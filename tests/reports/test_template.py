"""Template mode: an analyst's workbook with a pivot over a data sheet and GETPIVOTDATA cells.

The template is built here with openpyxl's pivot classes: a 'Report' sheet holding a pivot
(rows Platform, Meta 1; data Sum of value) over 'Active subscriber'!A1:N3, two stale rows.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pytest
from openpyxl.pivot.cache import (
    CacheDefinition,
    CacheField,
    CacheSource,
    SharedItems,
    WorksheetSource,
)
from openpyxl.pivot.fields import Text
from openpyxl.pivot.record import RecordList
from openpyxl.pivot.table import (
    DataField,
    FieldItem,
    Location,
    PivotField,
    RowColField,
    TableDefinition,
)
from openpyxl.worksheet.table import Table

from tally.errors import BadInputError, ConfigError
from tally.reports.fact import HEADERS
from tally.reports.recalc import recalculate
from tally.reports.subscription import write_subscription_report
from tally.reports.template import check_template

STALE = [
    ["Active subscriber", "weekly", "HK", "iOS IAP", dt.datetime(2016, 12, 26), "P1"]
    + ["App Store", "IAP", "Paying", None, None, None, None, 1.0],
    ["Active subscriber", "weekly", "HK", "Web", dt.datetime(2016, 12, 26), "W1"]
    + ["Web", "Direct", "Paying", None, None, None, None, 2.0],
]
FORMULAS = {
    "D1": '=GETPIVOTDATA("value",Report!$A$3,"Platform","iOS IAP","Meta 1","P1")',
    "D2": '=GETPIVOTDATA("value",Report!$A$3,"Platform","Redemption")',
    "D3": '=GETPIVOTDATA("value",Report!$A$3)',
    "D4": '=GETPIVOTDATA("value",\'Active subscriber\'!$A$5,"Platform","Web")',
    "D5": '=GETPIVOTDATA("value",Report!$A$3,"Platform","Telco")',
    "D6": "=D3*2",
    "D7": '=IFERROR(GETPIVOTDATA("value",Report!$A$3,"Platform","iOS IAP"),0)',
    # Bad arguments: each cell gets its own error value, the others are still filled.
    "E1": '=GETPIVOTDATA("value",Report!$A$3,"Start Date",2958466)',
    "E2": '=GETPIVOTDATA("value",Report!$A$3,"Start Date",1e300)',
    "E3": '=GETPIVOTDATA("value",Report!$A$3,"Meta 9","x")',
    "E4": "=GETPIVOTDATA(value,Report!$A$3)",
}


def build_template(path: Path) -> Path:
    book = openpyxl.Workbook()
    report = book.active
    report.title = "Report"
    data = book.create_sheet("Active subscriber")
    data.append(list(HEADERS))
    for row in STALE:
        data.append(row)
    data.add_table(Table(displayName="ActiveRows", ref="A1:N3"))
    fields = [CacheField(name=header, sharedItems=SharedItems()) for header in HEADERS]
    fields[3].sharedItems = SharedItems(_fields=[Text(v="iOS IAP"), Text(v="Web")], count=2)
    fields[5].sharedItems = SharedItems(_fields=[Text(v="P1"), Text(v="W1")], count=2)
    cache = CacheDefinition(
        cacheSource=CacheSource(
            type="worksheet",
            worksheetSource=WorksheetSource(ref="A1:N3", sheet="Active subscriber"),
        ),
        cacheFields=fields,
        recordCount=0,
    )
    cache.records = RecordList()
    rows_axis = [FieldItem(x=0), FieldItem(x=1), FieldItem(t="default")]
    pivot_fields = [
        PivotField(axis="axisRow", showAll=False, items=rows_axis)
        if index in (3, 5)
        else PivotField(dataField=True, showAll=False)
        if header == "value"
        else PivotField(showAll=False)
        for index, header in enumerate(HEADERS)
    ]
    pivot = TableDefinition(
        name="ActivePivot",
        cacheId=1,
        dataCaption="Values",
        location=Location(ref="A3:B9", firstHeaderRow=1, firstDataRow=1, firstDataCol=1),
        pivotFields=pivot_fields,
        rowFields=[RowColField(x=3), RowColField(x=5)],
        dataFields=[DataField(name="Sum of value", fld=13, baseField=0, baseItem=0)],
    )
    pivot.cache = cache
    report.add_pivot(pivot)
    for cell, formula in FORMULAS.items():
        report[cell] = formula
    book.save(path)
    return path


@pytest.fixture
def filled(loaded_duckdb, settings, tmp_path) -> Path:
    template = build_template(tmp_path / "subscription-hk.xlsx")
    written = write_subscription_report(
        loaded_duckdb,
        settings,
        "HK",
        "weekly",
        dt.date(2017, 1, 25),
        root=str(tmp_path / "out"),
        template=template,
    )
    return Path(written.location)


def test_data_sheet_rows_table_and_pivot_are_replaced(filled: Path) -> None:
    book = openpyxl.load_workbook(filled)
    data = book["Active subscriber"]
    # The 11 weekly HK active rows replace the two stale 2016-12-26 rows.
    assert data.max_row == 12
    assert all(row[4] >= dt.datetime(2017, 1, 9) for row in data.iter_rows(2, values_only=True))
    assert data.tables["ActiveRows"].ref == "A1:N12"
    (pivot,) = book["Report"]._pivots
    assert pivot.cache.cacheSource.worksheetSource.ref == "A1:N12"
    assert pivot.cache.refreshOnLoad
    assert book.calculation.fullCalcOnLoad
    # Types the template had no sheet for get one.
    assert {"New subscriber", "Churn", "Revenue"} <= set(book.sheetnames)
    assert book["Report"]["D6"].value == "=D3*2"


def test_getpivotdata_cells_carry_warehouse_values(filled: Path) -> None:
    cached = openpyxl.load_workbook(filled, data_only=True)["Report"]
    # HK weekly up to the week of 1/23: iOS P1 = 100 + 20 + 110 + 25 + 120 = 375;
    # Redemption = 10 + 12 + 15 = 37; all active = 180 + 192 + 175 = 547.
    assert cached["D1"].value == 375
    assert cached["D2"].value == 37
    assert cached["D3"].value == 547
    # No HK weekly Web or Telco rows: Excel's #REF!.
    assert cached["D4"].value == "#REF!"
    assert cached["D5"].value == "#REF!"
    assert cached["D7"].value is None  # nested: left to Excel's recalculation
    # Beyond 9999-12-31 (serial 2,958,465) is #NUM!; an unknown field #REF!; a data field
    # not in quotes #VALUE!.
    assert [cached[c].value for c in ("E1", "E2", "E3", "E4")] == [
        "#NUM!",
        "#NUM!",
        "#REF!",
        "#VALUE!",
    ]


def test_bad_cells_are_reported_with_their_reason(loaded_duckdb, settings, tmp_path) -> None:
    template = build_template(tmp_path / "subscription-hk.xlsx")
    written = write_subscription_report(
        loaded_duckdb,
        settings,
        "HK",
        "weekly",
        dt.date(2017, 1, 25),
        root=str(tmp_path / "out"),
        template=template,
    )
    notes = "\n".join(written.notes)
    assert "Report!E1: #NUM! 2958466 is outside Excel's dates" in notes
    assert "Report!E3: #REF! field 'Meta 9'" in notes
    assert "Report!D4" in notes and "Report!D1" not in notes


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice missing")
def test_libreoffice_pivot_agrees_with_cached_values(filled: Path, tmp_path: Path) -> None:
    # LibreOffice rebuilds the pivot from the widened source range and evaluates the
    # GETPIVOTDATA cells itself: its numbers must be tally's.
    (result,) = recalculate([filled], tmp_path / "recalc")
    fresh = openpyxl.load_workbook(result, data_only=True)["Report"]
    cached = openpyxl.load_workbook(filled, data_only=True)["Report"]
    for cell in ("D1", "D2", "D3", "D5"):
        assert fresh[cell].value == cached[cell].value, cell
    assert fresh["D6"].value == 2 * 547
    assert fresh["D7"].value == 170 + 180 + 160  # iOS IAP over the three weeks


def test_xlsb_gets_save_as_instructions(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"File > Save As.*Excel Workbook \(\*\.xlsx\)"):
        check_template(tmp_path / "subscription-hk.xlsb")


def test_unknown_header_names_sheet_and_cell(loaded_duckdb, settings, tmp_path) -> None:
    template = build_template(tmp_path / "bad.xlsx")
    book = openpyxl.load_workbook(template)
    book["Active subscriber"]["C1"] = "Region"
    book.save(template)
    with pytest.raises(BadInputError, match=r"Active subscriber!C1.*'Region'"):
        write_subscription_report(
            loaded_duckdb,
            settings,
            "HK",
            "weekly",
            dt.date(2017, 1, 25),
            root=str(tmp_path),
            template=template,
        )
