"""Real pivot tables in a generated workbook: the OOXML parts no Python library writes.

XlsxWriter cannot write pivot tables and openpyxl only keeps the ones a workbook already
has, so tally writes them itself: per pivot a ``pivotCacheDefinition`` (source: the metric's
data sheet; ``refreshOnLoad`` and no saved records, so Excel and LibreOffice rebuild it from
the sheet on open), a ``pivotTable`` part (rows, columns, "Sum of value", row and column
items), their relationships, content types and the workbook's ``<pivotCaches>``.

The pivot's cells are also written as plain values by the workbook writer (``layout``), in
the layout the pivot part describes, so viewers that never refresh show the same numbers.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pyarrow as pa
import pyarrow.compute as pc
from xlsxwriter.utility import xl_col_to_name

from tally.reports.fact import HEADERS, column_for

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml."
GRAND = "Total Result"  # LibreOffice's label (Excel redraws its own "Grand Total" on refresh)
ANCHOR_ROW = 2  # zero-based: the pivot starts at A3, as Excel places a new one
EXCEL_EPOCH = dt.date(1899, 12, 30)

Item = str | dt.date | None  # a pivot item: text, a date, or (blank)


@dataclass
class Pivot:
    """One pivot table over ``source_sheet`` rows 1..``source_rows`` + 1, on ``sheet``."""

    name: str
    sheet: str
    source_sheet: str
    source_rows: int
    rows: tuple[str, ...]  # headers on the row axis, outermost first
    column: str  # the header on the column axis
    items: dict[str, list[Item]]  # header → its items, sorted (the cache's shared items)
    lines: list[tuple[int, tuple[Item, ...]]]  # row axis lines: (depth, key), grand excluded
    sums: dict[tuple[tuple[Item, ...], Item], float]  # (row key prefix, column item) → sum
    value_range: tuple[float, float]
    number_format_id: int  # 3 "#,##0" or 4 "#,##0.00"
    # The grand-total column (across dates) and row (down platforms and plans). In the
    # file they are colGrandTotals and rowGrandTotals respectively, as LibreOffice reads them.
    total_column: bool = True
    total_row: bool = True
    cache_id: int = 0
    grid: list[list[object]] = field(default_factory=list)
    page: tuple[str, str] | None = None  # a page (filter) field and its one shown item

    @property
    def ref(self) -> str:
        """The pivot's range on its sheet."""
        height = 2 + len(self.lines) + (1 if self.total_row else 0)
        width = len(self.rows) + len(self.items[self.column]) + (1 if self.total_column else 0)
        return f"A{ANCHOR_ROW + 1}:{xl_col_to_name(width - 1)}{ANCHOR_ROW + height}"


def build(
    name: str,
    sheet: str,
    source_sheet: str,
    part: pa.Table,
    rows: tuple[str, ...],
    column: str,
    *,
    money: bool,
    stock: bool,
    page: tuple[str, str] | None = None,
) -> Pivot:
    """A pivot of ``part`` (one metric's rows): sums of value by ``rows`` × ``column``.

    Stocks get no grand-total column (active subscribers summed over weeks mean nothing);
    money has its currency on the row axis and no grand-total row (currencies do not add).
    """
    if page is not None:  # the pivot shows only the rows holding the page item
        page_values = part.column(column_for(page[0])).to_pylist()
        page_items = sorted({v for v in page_values if v not in (None, "")}, key=_order)
        part = part.filter([v == page[1] for v in page_values])
    names = [column_for(h) for h in (*rows, column)]
    values = part.column("value").to_pylist() if part.num_rows else []
    keyed = pa.table(
        {
            f"k{i}": pc.if_else(pc.equal(part.column(n), ""), None, part.column(n))
            if pa.types.is_string(part.column(n).type)
            else part.column(n)
            for i, n in enumerate(names)
        }
        | {"value": pc.fill_null(part.column("value"), 0.0)}
    )
    keys = [f"k{i}" for i in range(len(names))]
    items = {
        header: sorted(set(keyed.column(keys[i]).unique().to_pylist()), key=_order)
        for i, header in enumerate((*rows, column))
    }
    # Sums of every row-key prefix by column item and over all column items (the subtotal
    # lines and the totals), each one grouped aggregation in Arrow.
    sums: dict[tuple[tuple[Item, ...], Item], float] = {}
    lines: set[tuple[Item, ...]] = set()
    for depth in range(len(rows) + 1):
        prefix = keys[:depth]
        for by, with_column in ((prefix + [keys[-1]], True), (prefix, False)):
            if by:
                grouped = keyed.group_by(by, use_threads=False).aggregate([("value", "sum")])
                found: Iterable[tuple[Any, ...]] = zip(
                    *(grouped.column(k).to_pylist() for k in by),
                    grouped.column("value_sum").to_pylist(),
                    strict=True,
                )
            else:
                found = [(pc.sum(keyed.column("value")).as_py() or 0.0,)]
            for *key, total in found:
                if with_column:
                    sums[(tuple(key[:-1]), key[-1])] = total
                else:
                    sums[(tuple(key), None)] = total
                    if depth:
                        lines.add(tuple(key))
    ordered = sorted(lines, key=lambda k: tuple(_order(v) for v in k))
    pivot = Pivot(
        name=name,
        sheet=sheet,
        source_sheet=source_sheet,
        source_rows=part.num_rows,
        rows=rows,
        column=column,
        items=items,
        lines=[(len(k) - 1, k) for k in ordered],
        sums=sums,
        value_range=(min(values, default=0.0), max(values, default=0.0)),
        number_format_id=4 if money else 3,
        total_column=not stock,
        total_row=not money,
        page=page,
    )
    if page is not None:
        pivot.items[page[0]] = page_items
    pivot.grid = _grid(pivot)
    return pivot


def _order(item: Item) -> tuple[Any, ...]:
    """Items sort as Excel lists them: dates, then text (case-insensitive), blank last."""
    if item is None:
        return (2, "")
    if isinstance(item, dt.date):
        return (0, item.isoformat())
    return (1, str(item).lower(), str(item))


def _grid(pivot: Pivot) -> list[list[object]]:
    """The pivot's cells in outline form (each row field in its own column, subtotals on
    the item's own line), as Excel and LibreOffice draw it, row by row from A3."""
    columns = pivot.items[pivot.column]
    width = len(pivot.rows)
    top: list[object] = ["Sum of value", *[None] * (width - 1), pivot.column]
    top += [None] * (len(columns) - 1)
    header: list[object] = [*pivot.rows, *columns]
    if pivot.total_column:
        top.append(None)
        header.append(GRAND)
    grid = [top, header]

    def line(labels: list[object], prefix: tuple[Item, ...]) -> list[object]:
        cells = labels + [pivot.sums.get((prefix, c)) for c in columns]
        if pivot.total_column:
            cells.append(pivot.sums.get((prefix, None)))
        return cells

    for depth, key in pivot.lines:
        labels: list[object] = [None] * width
        labels[depth] = key[-1] if key[-1] is not None else "(empty)"
        grid.append(line(labels, key))
    if pivot.total_row:
        grid.append(line([GRAND] + [None] * (width - 1), ()))
    return grid


def grid_xml(pivot: Pivot, date_style: int, value_style: int) -> Iterator[bytes]:
    """The pivot's drawn cells (``grid``) as ``<row>`` elements from row 3, streamed into the
    package like the data sheets' rows (XlsxWriter's per-cell path was most of a daily
    workbook's time: a year of days across × every plan down)."""
    chunk: list[str] = []
    for offset, cells in enumerate(pivot.grid):
        number = ANCHOR_ROW + offset + 1
        parts = [f'<row r="{number}">']
        for column, value in enumerate(cells):
            if value is None:
                continue
            where = f"{xl_col_to_name(column)}{number}"
            if isinstance(value, dt.date):
                serial = (value - EXCEL_EPOCH).days
                parts.append(f'<c r="{where}" s="{date_style}"><v>{serial}</v></c>')
            elif isinstance(value, float):
                parts.append(f'<c r="{where}" s="{value_style}"><v>{value!r}</v></c>')
            else:
                text = escape(_printable(str(value)))
                parts.append(
                    f'<c r="{where}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
                )
        parts.append("</row>")
        chunk.append("".join(parts))
        if len(chunk) >= 1000:
            yield "".join(chunk).encode("utf-8")
            chunk = []
    yield "".join(chunk).encode("utf-8")


def _printable(text: str) -> str:
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", lambda m: f"_x{ord(m.group()):04X}_", text)


# -- the OOXML parts ----------------------------------------------------------------------


def _shared_items(values: list[Item]) -> str:
    dates = [v for v in values if isinstance(v, dt.date)]
    blank = any(v is None for v in values)
    if dates and len(dates) == len(values):
        stamps = [f"{d.isoformat()}T00:00:00" for d in dates]
        inner = "".join(f'<d v="{s}"/>' for s in stamps)
        return (
            '<sharedItems containsSemiMixedTypes="0" containsNonDate="0" containsDate="1" '
            f'containsString="0" minDate="{stamps[0]}" maxDate="{stamps[-1]}" '
            f'count="{len(values)}">{inner}</sharedItems>'
        )
    inner = "".join("<m/>" if v is None else f"<s v={quoteattr(str(v))}/>" for v in values)
    extra = ' containsBlank="1"' if blank else ""
    return f'<sharedItems{extra} count="{len(values)}">{inner}</sharedItems>'


def cache_definition(pivot: Pivot) -> str:
    fields = []
    for header in HEADERS:
        number_format = ' numFmtId="14"' if header == "Start Date" else ' numFmtId="0"'
        if header in pivot.items:
            shared = _shared_items(pivot.items[header])
        elif header == "value":
            low, high = pivot.value_range
            shared = (
                '<sharedItems containsSemiMixedTypes="0" containsString="0" '
                f'containsNumber="1" minValue="{low!r}" maxValue="{high!r}"/>'
            )
        else:
            shared = "<sharedItems/>"
        fields.append(f"<cacheField name={quoteattr(header)}{number_format}>{shared}</cacheField>")
    source = f"A1:N{pivot.source_rows + 1}"
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<pivotCacheDefinition xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}" saveData="0" '
        'refreshOnLoad="1" createdVersion="6" refreshedVersion="6" minRefreshableVersion="3" '
        f'recordCount="{pivot.source_rows}">'
        f'<cacheSource type="worksheet"><worksheetSource ref="{source}" '
        f"sheet={quoteattr(pivot.source_sheet)}/></cacheSource>"
        f'<cacheFields count="{len(HEADERS)}">{"".join(fields)}</cacheFields>'
        "</pivotCacheDefinition>"
    )


def table_definition(pivot: Pivot) -> str:
    axes = {header: "axisRow" for header in pivot.rows} | {pivot.column: "axisCol"}
    if pivot.page is not None:
        axes[pivot.page[0]] = "axisPage"
    fields = []
    for header in HEADERS:
        if header in axes:
            count = len(pivot.items[header])
            inner = "".join(f'<item x="{i}"/>' for i in range(count)) + '<item t="default"/>'
            date = ' numFmtId="14"' if header == "Start Date" else ""
            fields.append(
                f'<pivotField axis="{axes[header]}"{date} compact="0" outline="1" '
                f'showAll="0"><items count="{count + 1}">{inner}</items></pivotField>'
            )
        elif header == "value":
            fields.append('<pivotField dataField="1" compact="0" showAll="0"/>')
        else:
            fields.append('<pivotField compact="0" showAll="0"/>')
    index = {header: HEADERS.index(header) for header in HEADERS}
    row_fields = "".join(f'<field x="{index[h]}"/>' for h in pivot.rows)
    row_items = []
    for depth, key in pivot.lines:
        position = pivot.items[pivot.rows[depth]].index(key[-1])
        row_items.append(
            f'<i r="{depth}"><x v="{position}"/></i>' if depth else f'<i><x v="{position}"/></i>'
        )
    if pivot.total_row:
        row_items.append('<i t="grand"><x/></i>')
    col_items = [f'<i><x v="{i}"/></i>' for i in range(len(pivot.items[pivot.column]))]
    if pivot.total_column:
        col_items.append('<i t="grand"><x/></i>')
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<pivotTableDefinition xmlns="{MAIN}" name={quoteattr(pivot.name)} '
        f'cacheId="{pivot.cache_id}" applyNumberFormats="0" applyBorderFormats="0" '
        'applyFontFormats="0" applyPatternFormats="0" applyAlignmentFormats="0" '
        'applyWidthHeightFormats="1" dataCaption="Values" updatedVersion="6" '
        'minRefreshableVersion="3" useAutoFormatting="1" itemPrintTitles="1" '
        'createdVersion="6" indent="0" compact="0" compactData="0" outline="1" '
        'outlineData="1" gridDropZones="1" multipleFieldFilters="0" '
        f'rowGrandTotals="{int(pivot.total_row)}" colGrandTotals="{int(pivot.total_column)}">'
        f'<location ref="{pivot.ref}" firstHeaderRow="1" firstDataRow="2" '
        f'firstDataCol="{len(pivot.rows)}"{_page_count(pivot)}/>'
        f'<pivotFields count="{len(HEADERS)}">{"".join(fields)}</pivotFields>'
        f'<rowFields count="{len(pivot.rows)}">{row_fields}</rowFields>'
        f'<rowItems count="{len(row_items)}">{"".join(row_items)}</rowItems>'
        f'<colFields count="1"><field x="{index[pivot.column]}"/></colFields>'
        f'<colItems count="{len(col_items)}">{"".join(col_items)}</colItems>'
        + _page_fields(pivot)
        + f'<dataFields count="1"><dataField name="Sum of value" fld="{index["value"]}" '
        f'baseField="0" baseItem="0" numFmtId="{pivot.number_format_id}"/></dataFields>'
        '<pivotTableStyleInfo name="PivotStyleLight16" showRowHeaders="1" '
        'showColHeaders="1" showRowStripes="0" showColStripes="0" showLastColumn="1"/>'
        "</pivotTableDefinition>"
    )


def _page_count(pivot: Pivot) -> str:
    return ' rowPageCount="1" colPageCount="1"' if pivot.page else ""


def _page_fields(pivot: Pivot) -> str:
    if pivot.page is None:
        return ""
    header, item = pivot.page
    position = pivot.items[header].index(item)
    return (
        f'<pageFields count="1"><pageField fld="{HEADERS.index(header)}" item="{position}" '
        'hier="-1"/></pageFields>'
    )


# -- putting the parts into a package -------------------------------------------------------


Body = Callable[[], Iterator[bytes]]


def add_pivots(
    path: Path, pivots: list[Pivot], bodies: dict[str, tuple[str, Body]] | None = None
) -> None:
    """Rewrite the .xlsx at ``path`` with the pivots' parts added, and the rows of the
    sheets in ``bodies`` (title → (the sheet's dimension such as ``A1:N9``, chunks of
    ``<row>`` elements)) streamed into their sheet parts after the rows XlsxWriter wrote."""
    bodies = bodies or {}
    if not pivots and not bodies:
        return
    with zipfile.ZipFile(path) as source:
        names = source.namelist()
        parts = {name: source.read(name) for name in names if not _is_large(name, source)}
        sheets = sheet_parts(source)
        added: dict[str, bytes] = {}
        workbook_rels = parts["xl/_rels/workbook.xml.rels"].decode()
        caches = []
        for number, pivot in enumerate(pivots, start=1):
            pivot.cache_id = number
            cache = f"xl/pivotCache/pivotCacheDefinition{number}.xml"
            table = f"xl/pivotTables/pivotTable{number}.xml"
            added[cache] = cache_definition(pivot).encode()
            added[table] = table_definition(pivot).encode()
            added[f"xl/pivotTables/_rels/pivotTable{number}.xml.rels"] = _rels(
                [("pivotCacheDefinition", f"../pivotCache/pivotCacheDefinition{number}.xml")]
            ).encode()
            relation = f"rIdPivotCache{number}"
            workbook_rels = workbook_rels.replace(
                "</Relationships>",
                f'<Relationship Id="{relation}" Type="{RELATIONSHIPS}/pivotCacheDefinition" '
                f'Target="pivotCache/pivotCacheDefinition{number}.xml"/></Relationships>',
            )
            caches.append(f'<pivotCache cacheId="{number}" r:id="{relation}"/>')
            sheet_part = sheets[pivot.sheet]
            rels_name = posixpath.join(
                posixpath.dirname(sheet_part), "_rels", posixpath.basename(sheet_part) + ".rels"
            )
            existing = added.get(rels_name) or parts.get(rels_name)
            target = f"../pivotTables/pivotTable{number}.xml"
            added[rels_name] = _add_relation(existing, "pivotTable", target, number).encode()
        parts["xl/_rels/workbook.xml.rels"] = workbook_rels.encode()
        parts["xl/workbook.xml"] = _with_caches(parts["xl/workbook.xml"].decode(), caches).encode()
        parts["[Content_Types].xml"] = _with_types(
            parts["[Content_Types].xml"].decode(), len(pivots)
        ).encode()
        streamed = {sheets[title]: body for title, body in bodies.items()}
        temporary = path.with_suffix(".pivots.xlsx")
        # Level 1: the streamed sheets are most of the bytes and level 6 cost three times
        # the CPU for about 15 % less size.
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
            for info in source.infolist():
                data = parts.get(info.filename)
                if info.filename in added:
                    continue
                if info.filename in streamed:
                    _stream_sheet(out, info, data or b"", *streamed[info.filename])
                    continue
                out.writestr(info, data if data is not None else source.read(info.filename))
            for name, data in added.items():
                out.writestr(name, data)
    temporary.replace(path)


def _stream_sheet(
    out: zipfile.ZipFile, info: zipfile.ZipInfo, header: bytes, dimension: str, body: Body
) -> None:
    """The sheet part with its body rows after the rows XlsxWriter wrote, in chunks."""
    text = header.decode("utf-8")
    text = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="{dimension}"/>', text)
    head, _, tail = text.partition("</sheetData>")
    if not tail:  # XlsxWriter wrote no row: an empty <sheetData/>
        head, _, tail = text.partition("<sheetData/>")
        head += "<sheetData>"
    with out.open(info.filename, "w", force_zip64=True) as handle:
        handle.write(head.encode("utf-8"))
        for chunk in body():
            handle.write(chunk)
        handle.write(("</sheetData>" + tail).encode("utf-8"))


def _is_large(name: str, package: zipfile.ZipFile) -> bool:
    return name.startswith("xl/worksheets/sheet") and package.getinfo(name).file_size > 1 << 20


def _rels(relations: list[tuple[str, str]]) -> str:
    inner = "".join(
        f'<Relationship Id="rId{i}" Type="{RELATIONSHIPS}/{kind}" Target="{target}"/>'
        for i, (kind, target) in enumerate(relations, start=1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{PACKAGE}">{inner}</Relationships>'
    )


def _add_relation(existing: bytes | str | None, kind: str, target: str, number: int) -> str:
    if existing is None:
        return _rels([(kind, target)])
    text = existing.decode() if isinstance(existing, bytes) else existing
    return text.replace(
        "</Relationships>",
        f'<Relationship Id="rIdPivot{number}" Type="{RELATIONSHIPS}/{kind}" '
        f'Target="{target}"/></Relationships>',
    )


def _with_caches(workbook: str, caches: list[str]) -> str:
    """``<pivotCaches>`` goes after ``<calcPr>`` (CT_Workbook's order)."""
    block = f"<pivotCaches>{''.join(caches)}</pivotCaches>"
    found = re.search(r"<calcPr[^>]*/>|</calcPr>", workbook)
    if found:
        return workbook[: found.end()] + block + workbook[found.end() :]
    return workbook.replace("</workbook>", block + "</workbook>")


def _with_types(types: str, count: int) -> str:
    overrides = "".join(
        f'<Override PartName="/xl/pivotCache/pivotCacheDefinition{n}.xml" '
        f'ContentType="{CONTENT}pivotCacheDefinition+xml"/>'
        f'<Override PartName="/xl/pivotTables/pivotTable{n}.xml" '
        f'ContentType="{CONTENT}pivotTable+xml"/>'
        for n in range(1, count + 1)
    )
    return types.replace("</Types>", overrides + "</Types>")


def sheet_parts(package: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title → its part name inside the package, read from the workbook's rels."""
    import xml.etree.ElementTree as ET

    workbook = ET.fromstring(package.read("xl/workbook.xml"))
    relations = ET.fromstring(package.read("xl/_rels/workbook.xml.rels"))
    targets = {
        r.get("Id"): r.get("Target", "") for r in relations.iter(f"{{{PACKAGE}}}Relationship")
    }
    parts = {}
    for sheet in workbook.iter(f"{{{MAIN}}}sheet"):
        target = targets[sheet.get(f"{{{RELATIONSHIPS}}}id")]
        path = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
        parts[sheet.get("name", "")] = posixpath.normpath(path)
    return parts


def describe(pivot: Pivot) -> str:
    """One line for the workbook's notes."""
    return escape(f"{pivot.sheet}: {', '.join(pivot.rows)} × {pivot.column}")
