"""Write a subscription report workbook with XlsxWriter.

Sheets: ``Summary`` (formulas over the data sheets, each with its value cached so viewers
that never recalculate still show the numbers), then one sheet per metric type holding that
type's rows as an Excel Table with the seed's headers.

Data sheets are streamed (XlsxWriter's ``constant_memory``), so memory does not grow with
the number of rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.workbook import Format
from xlsxwriter.worksheet import Worksheet

from tally.errors import TerminalError
from tally.reports.fact import COLUMNS, HEADERS, order_types
from tally.reports.summary import Line, Section, Summary

MAX_DATA_ROWS = 1_048_575  # Excel's row limit, less the header row
SUMMARY = "Summary"
HEADER_ROW = 4  # zero-based row of the Summary's period headers
FIRST_PERIOD_COLUMN = 1
PLATFORM, START_DATE, PLAN, VALUE = (
    COLUMNS.index("platform"),
    COLUMNS.index("start_date"),
    COLUMNS.index("meta_1"),
    COLUMNS.index("value"),
)
DATA_WIDTHS = [18, 14, 8, 14, 12, 30, 22, 16, 14, 10, 10, 10, 10, 14]
PERIOD_WORDS = {"daily": "day", "weekly": "week", "monthly": "month"}


def sheet_name(metric: str) -> str:
    """A metric type as a legal sheet name (Excel forbids []:*?/\\ and >31 characters)."""
    return re.sub(r"[\[\]:*?/\\]", "_", metric)[:31]


def write_workbook(
    path: Path, rows: pa.Table, summary: Summary, generated_at: dt.datetime
) -> dict[str, int]:
    """Write the workbook to ``path``; returns the number of data rows per sheet."""
    metrics = order_types(pc.unique(rows["type"]).to_pylist()) if rows.num_rows else []
    parts = {metric: rows.filter(pc.equal(rows["type"], metric)) for metric in metrics}
    for metric, part in parts.items():
        if part.num_rows > MAX_DATA_ROWS:
            raise TerminalError(
                f"{metric!r} has {part.num_rows:,} rows, more than an Excel sheet holds "
                f"({MAX_DATA_ROWS:,}); use --format parquet or csv for this report"
            )
    book = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,  # a plan named "=..." stays text
            "strings_to_urls": False,
            "default_date_format": "yyyy-mm-dd",
        },
    )
    book.set_properties(
        {"title": _title(summary), "subject": "Subscription report", "author": "tally"}
    )
    styles = _styles(book)
    counts = {metric: part.num_rows for metric, part in parts.items()}
    summary_sheet = book.add_worksheet(SUMMARY)
    for metric, part in parts.items():
        _write_data_sheet(book, metric, part, styles)
    _write_summary(book, summary_sheet, summary, counts, styles, generated_at)
    book.close()
    return counts


# -- styles -----------------------------------------------------------------------------


def _styles(book: xlsxwriter.Workbook) -> dict[str, Format]:
    return {
        "title": book.add_format({"bold": True, "font_size": 16}),
        "note": book.add_format({"italic": True, "font_color": "#595959"}),
        "header": book.add_format(
            {"bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF", "align": "center"}
        ),
        "header_date": book.add_format(
            {
                "bold": True,
                "bg_color": "#1F4E78",
                "font_color": "#FFFFFF",
                "num_format": "yyyy-mm-dd",
                "align": "center",
            }
        ),
        "section": book.add_format({"bold": True, "bg_color": "#DDEBF7"}),
        "platform": book.add_format({"bold": True}),
        "plan": book.add_format({"indent": 2}),
        "total": book.add_format({"bold": True, "top": 1}),
        "count": book.add_format({"num_format": "#,##0"}),
        "count_bold": book.add_format({"num_format": "#,##0", "bold": True}),
        "count_total": book.add_format({"num_format": "#,##0", "bold": True, "top": 1}),
        "money": book.add_format({"num_format": "#,##0.00"}),
        "money_bold": book.add_format({"num_format": "#,##0.00", "bold": True}),
        "money_total": book.add_format({"num_format": "#,##0.00", "bold": True, "top": 1}),
        "ratio": book.add_format({"num_format": "0.0%"}),
        "ratio_total": book.add_format({"num_format": "0.0%", "bold": True, "top": 1}),
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "value": book.add_format({"num_format": "#,##0.##"}),
    }


# -- data sheets ------------------------------------------------------------------------


def _write_data_sheet(
    book: xlsxwriter.Workbook, metric: str, part: pa.Table, styles: dict[str, Format]
) -> None:
    sheet = book.add_worksheet(sheet_name(metric))
    # XlsxWriter refuses add_table() in constant_memory mode only because the table writes
    # its header cells into the row buffer; nothing is flushed yet at row 0, so it is safe
    # to add the table with the mode off for this one call and then write the headers as
    # in-line strings ourselves (the shared-string cells the table wrote are replaced).
    sheet.constant_memory = False
    sheet.add_table(
        0,
        0,
        max(part.num_rows, 1),
        len(HEADERS) - 1,
        {
            "name": "Data_" + re.sub(r"\W", "_", metric),
            "columns": [{"header": header} for header in HEADERS],
            "style": "Table Style Light 9",
        },
    )
    sheet.constant_memory = True
    # add_table() also remembers every cell of its range (~90 bytes each) to refuse later
    # overlapping tables or merges; this sheet gets neither, and for a million cells that
    # memory would be the largest part of the report's footprint.
    sheet.table_cells.clear()
    sheet.write_row(0, 0, HEADERS)
    sheet.freeze_panes(1, 0)
    for column, width in enumerate(DATA_WIDTHS):
        style = (
            styles["date"] if column == START_DATE else styles["value"] if column == VALUE else None
        )
        sheet.set_column(column, column, width, style)
    for number, values in enumerate(_records(part), start=1):
        sheet.write_row(number, 0, values)


def _records(table: pa.Table) -> Iterator[tuple]:
    for batch in table.to_batches(max_chunksize=20_000):
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)


# -- summary ----------------------------------------------------------------------------


def _title(summary: Summary) -> str:
    word = PERIOD_WORDS[summary.period]
    return (
        f"Subscription report: {summary.country_name} ({summary.country}), {summary.period}, "
        f"{word} of {summary.periods[-1].isoformat()}"
    )


def _write_summary(
    book: xlsxwriter.Workbook,
    sheet: Worksheet,
    summary: Summary,
    counts: dict[str, int],
    styles: dict[str, Format],
    generated_at: dt.datetime,
) -> None:
    fresh = summary.fresh_until.isoformat() if summary.fresh_until else "no data"
    sheet.write(0, 0, _title(summary), styles["title"])
    sheet.write(
        1,
        0,
        f"Data fresh to {fresh} (newest {summary.period} period in the warehouse); "
        f"generated {generated_at:%Y-%m-%d %H:%M} UTC",
        styles["note"],
    )
    sheet.write(2, 0, "Every number is a SUMIFS over the metric's data sheet.", styles["note"])
    last = FIRST_PERIOD_COLUMN + len(summary.periods) - 1
    sheet.write(HEADER_ROW, 0, "Metric / platform / plan", styles["header"])
    for offset, start in enumerate(summary.periods):
        sheet.write_datetime(
            HEADER_ROW,
            FIRST_PERIOD_COLUMN + offset,
            dt.datetime.combine(start, dt.time()),
            styles["header_date"],
        )
    sheet.write(HEADER_ROW, last + 1, "Change", styles["header"])
    sheet.write(HEADER_ROW, last + 2, "Change %", styles["header"])
    sheet.freeze_panes(HEADER_ROW + 1, 1)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)  # printed (and rendered to PDF) one page wide
    sheet.set_column(0, 0, 40)
    sheet.set_column(FIRST_PERIOD_COLUMN, last + 2, 12)
    row = HEADER_ROW + 1
    totals: dict[str, int] = {}
    for section in summary.sections:
        sheet.write(row, 0, section.metric, styles["section"])
        for column in range(FIRST_PERIOD_COLUMN, last + 3):
            sheet.write_blank(row, column, None, styles["section"])
        row += 1
        rows_in_sheet = counts.get(section.metric, 0)
        for line in section.lines:
            _write_line(sheet, row, section, line, rows_in_sheet, len(summary.periods), styles)
            row += 1
        totals[section.metric] = row - 1
        row += 1
    _add_charts(book, sheet, summary, totals, row + 1)


def _write_line(
    sheet: Worksheet,
    row: int,
    section: Section,
    line: Line,
    rows_in_sheet: int,
    period_count: int,
    styles: dict[str, Format],
) -> None:
    kind = "total" if line.platform is None else "plan" if line.plan is not None else "platform"
    label = "Total" if kind == "total" else line.plan if kind == "plan" else line.platform
    sheet.write_string(row, 0, label or "(blank)", styles[kind])
    number = ("money" if section.money else "count") + {
        "total": "_total",
        "platform": "_bold",
        "plan": "",
    }[kind]
    for offset, value in enumerate(line.values):
        column = FIRST_PERIOD_COLUMN + offset
        formula = sumifs(section.metric, rows_in_sheet, column, line.platform, line.plan)
        sheet.write_formula(row, column, formula, styles[number], value)
    last = xl_rowcol_to_cell(row, FIRST_PERIOD_COLUMN + period_count - 1)
    before = xl_rowcol_to_cell(row, FIRST_PERIOD_COLUMN + period_count - 2)
    change = FIRST_PERIOD_COLUMN + period_count
    if period_count > 1:
        sheet.write_formula(row, change, f"={last}-{before}", styles[number], line.change)
        sheet.write_formula(
            row,
            change + 1,
            f"=IF({before}=0,0,{last}/{before}-1)",
            styles["ratio_total" if kind == "total" else "ratio"],
            line.change_ratio,
        )


def sumifs(
    metric: str, rows_in_sheet: int, column: int, platform: str | None, plan: str | None
) -> str:
    """The SUMIFS of one Summary cell over its metric's data sheet."""
    sheet = "'" + sheet_name(metric).replace("'", "''") + "'!"
    end = max(rows_in_sheet, 1) + 1

    def span(index: int) -> str:
        letter = xl_col_to_name(index)
        return f"{sheet}${letter}$2:${letter}${end}"

    header = xl_rowcol_to_cell(HEADER_ROW, column, row_abs=True)
    parts = [span(VALUE), span(START_DATE), header]
    if platform is not None:
        parts += [span(PLATFORM), criterion(platform)]
    if plan is not None:
        parts += [span(PLAN), criterion(plan)]
    return "=SUMIFS(" + ",".join(parts) + ")"


def criterion(text: str) -> str:
    """A SUMIFS criterion matching exactly ``text``: '=' so that a leading '<' or '>' is
    text, wildcards escaped with '~', as a formula string literal."""
    escaped = text.replace("~", "~~").replace("*", "~*").replace("?", "~?")
    return '"=' + escaped.replace('"', '""') + '"'


def _add_charts(
    book: xlsxwriter.Workbook,
    sheet: Worksheet,
    summary: Summary,
    totals: dict[str, int],
    row: int,
) -> None:
    first = FIRST_PERIOD_COLUMN
    last = first + len(summary.periods) - 1
    categories = [SUMMARY, HEADER_ROW, first, HEADER_ROW, last]
    if "Active subscriber" in totals:
        active = book.add_chart({"type": "line"})
        total_row = totals["Active subscriber"]
        active.add_series(
            {
                "name": "Active subscribers",
                "categories": categories,
                "values": [SUMMARY, total_row, first, total_row, last],
                "marker": {"type": "circle"},
            }
        )
        active.set_title({"name": "Active subscribers"})
        active.set_x_axis({"num_format": "yyyy-mm-dd", "text_axis": True})  # one tick a period
        active.set_legend({"none": True})
        sheet.insert_chart(row, 0, active, {"x_scale": 1.4})
    flows = [m for m in ("New subscriber", "Churn") if m in totals]
    if flows:
        chart = book.add_chart({"type": "column"})
        for metric in flows:
            chart.add_series(
                {
                    "name": metric,
                    "categories": categories,
                    "values": [SUMMARY, totals[metric], first, totals[metric], last],
                }
            )
        chart.set_title({"name": "New subscribers vs churn"})
        chart.set_x_axis({"num_format": "yyyy-mm-dd", "text_axis": True})
        sheet.insert_chart(row, 7, chart, {"x_scale": 1.4})
