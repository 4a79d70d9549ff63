"""Template mode: refill an analyst's own workbook (pivots and GETPIVOTDATA kept).

The template has a data sheet per metric type (named as the type, headers in row 1) and
pivot tables over them. tally replaces the data sheets' rows, widens every pivot cache's
source range (and any Excel Table) to the new rows, marks the caches to refresh on open, and
writes the cached value of every ``=GETPIVOTDATA(...)`` cell as evaluated in the warehouse,
so a viewer that never recalculates still shows the right numbers.

openpyxl keeps pivots on load/save but writes formulas without results, so the results
are put into the saved sheets' XML afterwards (``_write_cached_values``).
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.compute as pc
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.worksheet import Worksheet

from tally.errors import BadInputError, ConfigError, NotFoundError
from tally.reports.fact import HEADERS, KNOWN_TYPES, column_for, order_types, period_start
from tally.reports.pivot import (
    NotOneCall,
    PivotError,
    PivotRequest,
    normalise,
    parse,
    run_query,
    to_query,
)
from tally.reports.workbook import sheet_name
from tally.warehouse import Warehouse

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"

Cached = float | str  # a number, or an Excel error code such as "#REF!"


@dataclass
class TemplateResult:
    data_rows: dict[str, int] = field(default_factory=dict)
    pivots_widened: int = 0
    cached: dict[tuple[str, str], Cached] = field(default_factory=dict)
    not_evaluated: list[str] = field(default_factory=list)  # formulas Excel will compute
    errors: dict[str, str] = field(default_factory=dict)  # 'Sheet!A1' → why it is an error


def check_template(template: Path) -> None:
    """Refuse what cannot be read, saying how to make it readable."""
    suffix = template.suffix.lower()
    if suffix in CONVERTED and not shutil.which("soffice"):
        raise ConfigError(
            f"{template}: a {suffix} workbook is read by converting it with LibreOffice, "
            "which is not installed (apt-get install -y --no-install-recommends "
            "libreoffice-calc). Or open it in Excel, choose File > Save As, pick 'Excel "
            "Workbook (*.xlsx)' as the type (pivot tables and formulas are kept), and pass "
            "the .xlsx file to --template."
        )
    if suffix not in (".xlsx", *CONVERTED):
        raise ConfigError(f"{template}: --template needs an .xlsx, .xlsb or .xls workbook")
    if not template.is_file():
        raise NotFoundError(f"template {template} does not exist")


CONVERTED = (".xlsb", ".xls")  # binary formats openpyxl cannot read: LibreOffice converts


def _as_xlsx(template: Path, scratch: Path) -> Path:
    """The template itself, or its .xlsx conversion by LibreOffice (.xlsb, .xls)."""
    if template.suffix.lower() not in CONVERTED:
        return template
    from tally.reports.recalc import convert

    return convert(template, scratch, "xlsx:Calc MS Excel 2007 XML")


def fill_template(
    template: Path,
    target: Path,
    warehouse: Warehouse,
    rows: pa.Table,
    country: str,
    period: str,
    day: dt.date,
) -> TemplateResult:
    """Write ``target``: the template with fresh data rows, pivots and cached results."""
    check_template(template)
    with tempfile.TemporaryDirectory(prefix="tally-template-") as scratch:
        book = openpyxl.load_workbook(_as_xlsx(template, Path(scratch)))
    result = TemplateResult()
    ranges = _replace_data(book, rows, template, result)
    types = _widen_pivots(book, ranges, result)
    scope = {"country": country, "resolution_type": period}
    until = period_start(day, period)
    for sheet in book.worksheets:
        if sheet.title not in ranges:
            _evaluate_sheet(sheet, warehouse, types, scope, until, result)
    book.calculation.fullCalcOnLoad = True  # Excel recomputes everything when opened
    with tempfile.TemporaryDirectory(prefix="tally-template-") as scratch:
        saved = Path(scratch) / "saved.xlsx"
        book.save(saved)
        _write_cached_values(saved, target, result.cached)
    return result


# -- data sheets ------------------------------------------------------------------------


def _find_sheet(book: openpyxl.Workbook, title: str) -> Worksheet | None:
    return next((s for s in book.worksheets if s.title.lower() == title.lower()), None)


def _headers(sheet: Worksheet) -> list[str | None]:
    """Row 1's report columns (None for a cell that is not one), up to the first blank."""
    found = []
    for cell in sheet[1]:
        if cell.value is None:
            break
        found.append(column_for(str(cell.value)))
    return found


def _is_long_sheet(sheet: Worksheet) -> bool:
    """The seed's layout: one data sheet holding every type (a Type column, all headers
    known), whatever its name, under pivots that sit on sheets named after the metrics."""
    if sheet._pivots or _named_type(sheet.title) is not None:
        return False
    columns = _headers(sheet)
    return bool(columns) and None not in columns and {"type", "value"} <= set(columns)


def _named_type(title: str, metrics: list[str] | None = None) -> str | None:
    """The metric type a sheet's title names (Excel compares sheet names case-insensitively)."""
    for metric in [*(metrics or []), *KNOWN_TYPES]:
        if sheet_name(metric).lower() == title.lower():
            return metric
    return None


def _replace_data(
    book: openpyxl.Workbook, rows: pa.Table, template: Path, result: TemplateResult
) -> dict[str, tuple[str | None, str]]:
    """Refill every data sheet; returns {sheet title: (metric type or None for a sheet of
    every type, new A1 range)}. A sheet named after a type that holds pivots is a pivot
    sheet (the seed's layout), not a data sheet."""
    metrics = order_types(pc.unique(rows["type"]).to_pylist())
    ranges: dict[str, tuple[str | None, str]] = {}
    for sheet in book.worksheets:
        if _is_long_sheet(sheet):
            ranges[sheet.title] = (None, _refill(sheet, rows, template))
    has_long_sheet = bool(ranges)
    for metric in metrics:
        part = rows.filter(pc.equal(rows["type"], metric))
        result.data_rows[metric] = part.num_rows
        sheet = _find_sheet(book, sheet_name(metric))
        if sheet is not None and sheet._pivots:
            continue
        if sheet is None:
            if has_long_sheet:  # it holds this type's rows
                continue
            sheet = book.create_sheet(sheet_name(metric))
            sheet.append(list(HEADERS))
        ranges[sheet.title] = (metric, _refill(sheet, part, template))
    for metric in KNOWN_TYPES:  # a template's sheet for a type with no rows now: emptied
        sheet = _find_sheet(book, sheet_name(metric))
        if sheet is not None and sheet.title not in ranges and not sheet._pivots:
            ranges[sheet.title] = (metric, _refill(sheet, rows.slice(0, 0), template))
            result.data_rows.setdefault(metric, 0)
    return ranges


def _refill(sheet: Worksheet, part: pa.Table, template: Path) -> str:
    """Replace the rows under the header; returns the data range with its header. New
    cells take the number format of the template's first data row (its date format)."""
    columns = []
    for cell, column in zip(sheet[1], _headers(sheet), strict=False):
        if column is None:
            raise BadInputError(
                f"header {cell.value!r} is not a report column (Type, Resolution Type, ...)",
                file=str(template),
                field=f"{sheet.title}!{cell.coordinate}",
            )
        columns.append(column)
    if not columns:
        raise BadInputError("no headers in row 1", file=str(template), field=sheet.title)
    formats = [
        sheet.cell(2, index + 1).number_format
        if sheet.max_row > 1 and sheet.cell(2, index + 1).value is not None
        else "yyyy-mm-dd"
        if column == "start_date"
        else None
        for index, column in enumerate(columns)
    ]
    if sheet.max_row > 1:
        sheet.delete_rows(2, sheet.max_row - 1)
    for values in zip(*(part.column(c).to_pylist() for c in columns), strict=True):
        sheet.append([None if v == "" else v for v in values])
    for index, number_format in enumerate(formats):
        if number_format and number_format != "General" and part.num_rows:
            for (cell,) in sheet.iter_rows(2, part.num_rows + 1, index + 1, index + 1):
                cell.number_format = number_format
    last_row = max(part.num_rows, 1) + 1  # a Table needs at least one body row
    ref = f"A1:{get_column_letter(len(columns))}{last_row}"
    for table in sheet.tables.values():
        table.ref = ref
        if table.autoFilter is not None:
            table.autoFilter.ref = ref
    return ref


# -- pivots -----------------------------------------------------------------------------

Placed = dict[str, list[tuple[CellRange, str | None]]]


def _widen_pivots(
    book: openpyxl.Workbook, ranges: dict[str, tuple[str | None, str]], result: TemplateResult
) -> Placed:
    """Point each pivot cache at its data sheet's new range, refreshed on open; returns,
    per sheet holding pivots, where each pivot sits and which metric type it shows (over a
    sheet of every type: its Type page filter, else the type its sheet is named after)."""
    placed: Placed = {}
    for sheet in book.worksheets:
        for pivot in sheet._pivots:  # openpyxl's list of the sheet's pivot tables
            source = pivot.cache.cacheSource.worksheetSource
            if source is None or source.sheet not in ranges:
                continue
            metric, ref = ranges[source.sheet]
            source.ref = ref
            pivot.cache.refreshOnLoad = True
            result.pivots_widened += 1
            if metric is None:
                metric = _page_type(pivot) or _named_type(sheet.title)
            placed.setdefault(sheet.title, []).append((CellRange(pivot.location.ref), metric))
    return placed


def _page_type(pivot: Any) -> str | None:  # openpyxl's TableDefinition, untyped
    """The item a pivot's ``Type`` page field shows, if it has one."""
    try:
        for page in pivot.pageFields or []:
            field = pivot.cache.cacheFields[page.fld]
            if column_for(field.name) == "type" and page.item is not None:
                shared = pivot.pivotFields[page.fld].items[page.item].x
                return str(field.sharedItems._fields[shared].v)
    except (AttributeError, IndexError, TypeError):
        return None  # a page field laid out otherwise: the sheet's name decides
    return None


def _metric_of(request: PivotRequest, placed: Placed) -> str:
    """The type the pivot holding the referenced cell shows. A reference outside every
    pivot is Excel's #REF! (a data sheet is not a pivot, whatever its name)."""
    cell = request.cell.replace("$", "").split(":")[0]
    pivots = next((p for title, p in placed.items() if title.lower() == request.sheet.lower()), [])
    for where, metric in pivots:
        if cell in where:
            if metric is None:
                named = [item for name, item in request.items if column_for(name) == "type"]
                if not named:
                    raise PivotError(
                        "#VALUE!",
                        f"the pivot at {request.sheet}!{request.cell} holds every type: "
                        'add the field "Type"',
                    )
                return str(named[0])
            return metric
    raise PivotError(
        "#REF!",
        f"no pivot table at {request.sheet}!{request.cell} (GETPIVOTDATA needs a cell of a "
        "pivot; Excel answers #REF!)",
    )


def _evaluate_sheet(
    sheet: Worksheet,
    warehouse: Warehouse,
    placed: Placed,
    scope: dict[str, str],
    until: dt.date,
    result: TemplateResult,
) -> None:
    for row in sheet.iter_rows():
        for cell in row:
            formula = cell.value
            if cell.data_type != "f" or not isinstance(formula, str):
                continue
            if "GETPIVOTDATA" not in formula.upper():
                continue
            where = f"{sheet.title}!{cell.coordinate}"
            try:
                request = parse(formula)
                cell.value = normalise(formula)  # "GETPIVOTDATA (" is not Excel's grammar
                query = to_query(request, _metric_of(request, placed), scope, until=until)
                value: Cached = run_query(warehouse, query)
            except NotOneCall:
                # Nested in a larger expression: left to Excel's recalculation on open.
                result.not_evaluated.append(where)
                continue
            except PivotError as error:
                # This cell's answer is Excel's error value; the other cells go on.
                result.errors[where] = f"{error.code} {error.message}"
                value = error.code
            result.cached[(sheet.title, cell.coordinate)] = value


# -- cached results in the saved XML ------------------------------------------------------


def _write_cached_values(saved: Path, target: Path, cached: dict[tuple[str, str], Cached]) -> None:
    """Copy ``saved`` to ``target``, giving the listed formula cells their results."""
    if not cached:
        shutil.copy(saved, target)
        return
    with zipfile.ZipFile(saved) as source:
        parts = _sheet_parts(source)
        by_part: dict[str, dict[str, Cached]] = {}
        for (title, coordinate), value in cached.items():
            by_part.setdefault(parts[title], {})[coordinate] = value
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            for item in source.infolist():
                data = source.read(item.filename)
                if item.filename in by_part:
                    data = _with_values(data, by_part[item.filename])
                out.writestr(item, data)


def _sheet_parts(package: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title → its part name inside the package, read from the workbook's rels."""
    workbook = ET.fromstring(package.read("xl/workbook.xml"))
    relations = ET.fromstring(package.read("xl/_rels/workbook.xml.rels"))
    targets = {
        r.get("Id"): r.get("Target", "")
        for r in relations.iter(f"{{{PACKAGE_RELATIONSHIPS}}}Relationship")
    }
    parts = {}
    for sheet in workbook.iter(f"{{{MAIN}}}sheet"):
        target = targets[sheet.get(f"{{{RELATIONSHIPS}}}id")]
        path = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
        parts[sheet.get("name", "")] = path
    return parts


def _with_values(xml: bytes, values: dict[str, Cached]) -> bytes:
    for prefix, uri in _namespaces(xml):
        ET.register_namespace(prefix, uri)  # keep the original prefixes when writing back
    root = ET.fromstring(xml)
    for cell in root.iter(f"{{{MAIN}}}c"):
        value = values.get(cell.get("r", ""))
        if value is None:
            continue
        found = cell.find(f"{{{MAIN}}}v")
        if found is None:
            found = ET.SubElement(cell, f"{{{MAIN}}}v")
        if isinstance(value, str):
            cell.set("t", "e")
            found.text = value
        else:
            cell.attrib.pop("t", None)
            found.text = repr(float(value))
    written: bytes = ET.tostring(root, xml_declaration=True, encoding="UTF-8")
    return written


def _namespaces(xml: bytes) -> list[tuple[str, str]]:
    return [value for _event, value in ET.iterparse(io.BytesIO(xml), events=("start-ns",))]
