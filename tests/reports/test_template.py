"""Template mode: an analyst's workbook with a pivot over a data sheet and GETPIVOTDATA cells.

The template is built here with openpyxl's pivot classes: a 'Report' sheet holding a pivot
(rows Platform, Meta 1; data Sum of value) over 'Active subscriber'!A1:N3, two stale rows.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest
import xlsxwriter
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
from tally.reports.fact import COLUMNS, HEADERS
from tally.reports.pivottable import add_pivots, build
from tally.reports.recalc import convert, recalculate
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


def fill(warehouse, settings, template: Path, out: Path, resolution: str = "weekly"):
    """HK's report of 25 Jan 2017 written into ``template`` (the fixture day of these tests)."""
    return write_subscription_report(
        warehouse,
        settings,
        "HK",
        resolution,
        dt.date(2017, 1, 25),
        root=str(out),
        template=template,
    )


@pytest.fixture
def filled(loaded_duckdb, settings, tmp_path) -> Path:
    template = build_template(tmp_path / "subscription-hk.xlsx")
    written = fill(loaded_duckdb, settings, template, tmp_path / "out")
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
    written = fill(loaded_duckdb, settings, template, tmp_path / "out")
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


def test_xlsb_without_libreoffice_gets_instructions(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match=r"LibreOffice.*File > Save As.*Excel Workbook"):
        check_template(tmp_path / "subscription-hk.xlsb")


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice missing")
def test_binary_template_is_converted_with_libreoffice(
    loaded_duckdb, settings, tmp_path: Path
) -> None:
    # LibreOffice writes .xls but not .xlsb; both go through the same conversion.
    template = build_template(tmp_path / "subscription-hk.xlsx")
    (binary,) = [convert(template, tmp_path / "binary", "xls:MS Excel 97")]
    written = fill(loaded_duckdb, settings, binary, tmp_path / "out")
    assert written.location.endswith(".xlsx")
    cached = openpyxl.load_workbook(written.location, data_only=True)["Report"]
    assert cached["D1"].value == 375  # as from the .xlsx template (see above)
    assert openpyxl.load_workbook(written.location)["Active subscriber"].max_row == 12


def test_unknown_header_names_sheet_and_cell(loaded_duckdb, settings, tmp_path) -> None:
    template = build_template(tmp_path / "bad.xlsx")
    book = openpyxl.load_workbook(template)
    book["Active subscriber"]["C1"] = "Region"
    book.save(template)
    with pytest.raises(BadInputError, match=r"Active subscriber!C1.*'Region'"):
        fill(loaded_duckdb, settings, template, tmp_path)


# -- the seed's layout: one long data sheet, pivots on sheets named after the metrics -------

SEED_FORMULAS = {
    # The seed's own cell, space after GETPIVOTDATA included. HK daily on 1/25: Redemption,
    # Samsung Galaxy Tablet Promotion, Redemption Campaign, Paying: Promotion 10 + Retail 5
    # (Meta 3 is not asked) = 15; Free trial 100, 1/24 1000 and Other Campaign stay out.
    "B1": (
        'GETPIVOTDATA ("value",\'Active subscriber\'!$A$5,"Resolution Type","daily",'
        '"Platform","Redemption","Start Date","1/25/2017","Meta 1",'
        '"Samsung Galaxy Tablet Promotion","Meta 2","Redemption Campaign","Meta 4","Paying")'
    ),
    # New subscriber, HK daily 1/25: the one Redemption row, 3.
    "B2": '=GETPIVOTDATA("value",\'New subscriber\'!$A$5,"Platform","Redemption")',
    # Active, every HK daily row up to 1/25: 10 + 5 + 100 + 1000 + 10000 + 100000 + Web 7.
    "B3": "=GETPIVOTDATA(\"value\",'Active subscriber'!$A$5)",
}
SEED_FIELDS = ("Resolution Type", "Platform", "Start Date", "Meta 1", "Meta 2", "Meta 4")


def build_seed_template(path: Path) -> Path:
    """'Data' (every type, dates shown M/D/YYYY as in the seed), a pivot per metric on a
    sheet named after it filtered by Type, and a 'Report' sheet of GETPIVOTDATA cells."""
    stale = pa.table(
        {column: [row[i] for row in STALE_SEED_ROWS] for i, column in enumerate(COLUMNS)}
    )
    book = xlsxwriter.Workbook(str(path))
    report = book.add_worksheet("Report")
    for cell, formula in SEED_FORMULAS.items():
        report.write_formula(cell, formula)
    pivots = []
    for metric in ("Active subscriber", "New subscriber"):
        sheet = book.add_worksheet(metric)
        sheet.write_row(0, 0, ["Type", metric])
        pivots.append(
            build(
                "Seed_" + metric.replace(" ", "_"),
                metric,
                "Data",
                stale,
                SEED_FIELDS,
                "Country",
                money=False,
                stock=False,
                page=("Type", metric),
            )
        )
    data = book.add_worksheet("Data")
    data.write_row(0, 0, HEADERS)
    shown = book.add_format({"num_format": "m/d/yyyy"})
    for number, row in enumerate(STALE_SEED_ROWS, start=1):
        data.write_row(number, 0, row)
        data.write_datetime(number, 4, dt.datetime.combine(row[4], dt.time()), shown)
    book.close()
    add_pivots(path, pivots)
    return path


STALE_SEED_ROWS = [
    ["Active subscriber", "daily", "HK", "Web", dt.date(2016, 12, 26), "W1"]
    + ["Web", "Direct", "Paying", "", "", "", "", 2.0],
    ["New subscriber", "daily", "HK", "Web", dt.date(2016, 12, 26), "W1"]
    + ["Web", "Direct", "Paying", "", "", "", "", 1.0],
]


@pytest.fixture
def seed_filled(loaded_duckdb, settings, tmp_path) -> tuple[Path, tuple[str, ...]]:
    template = build_seed_template(tmp_path / "seed-hk.xlsx")
    written = fill(loaded_duckdb, settings, template, tmp_path / "out", "daily")
    return Path(written.location), written.notes


def test_seed_layout_is_accepted_and_cached(seed_filled) -> None:
    filled, notes = seed_filled
    assert notes == ()
    book = openpyxl.load_workbook(filled)
    # The long sheet got every HK daily row (7 active + 1 new), the metric sheets kept
    # their pivots and got no data rows of their own.
    assert book["Data"].max_row == 1 + 8
    assert book["Data"]["E2"].number_format == "m/d/yyyy"
    assert [len(book[m]._pivots) for m in ("Active subscriber", "New subscriber")] == [1, 1]
    assert book["Report"]["B1"].value.startswith("=GETPIVOTDATA(")  # the seed's space gone
    cached = openpyxl.load_workbook(filled, data_only=True)["Report"]
    assert [cached[c].value for c in ("B1", "B2", "B3")] == [15, 3, 111122]


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice missing")
def test_seed_layout_recalculates_to_the_cached_values(seed_filled, tmp_path: Path) -> None:
    filled, _notes = seed_filled
    (result,) = recalculate([filled], tmp_path / "recalc")
    fresh = openpyxl.load_workbook(result, data_only=True)["Report"]
    cached = openpyxl.load_workbook(filled, data_only=True)["Report"]
    for cell in SEED_FORMULAS:
        assert fresh[cell].value == cached[cell].value, cell
