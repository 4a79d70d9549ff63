"""Write a subscription report workbook with XlsxWriter.

Sheets: ``Summary`` (formulas over the data sheets, each with its value cached so viewers
that never recalculate still show the numbers), then one sheet per metric type holding that
type's rows as an Excel Table with the seed's headers.

Data sheets are streamed (XlsxWriter's ``constant_memory``), so memory does not grow with
the number of rows.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_range, xl_rowcol_to_cell
from xlsxwriter.workbook import Format
from xlsxwriter.worksheet import Worksheet

from tally.errors import TerminalError
from tally.reports.analytics import Sheet, write_sheets
from tally.reports.fact import COLUMNS, HEADERS, MONEY_TYPES, is_average, is_stock, order_types
from tally.reports.fingerprint import PROPERTY
from tally.reports.pivottable import Body, Pivot, add_pivots, build, grid_xml
from tally.reports.sheetxml import rows_xml
from tally.reports.summary import NO_CURRENCY, Line, Section, Summary

MAX_DATA_ROWS = 1_048_575  # Excel's row limit, less the header row
SUMMARY = "Summary"
HEADER_ROW = 4  # zero-based row of the Summary's period headers
FIRST_PERIOD_COLUMN = 1
PLATFORM, START_DATE, PLAN, CURRENCY, VALUE = (
    COLUMNS.index("platform"),
    COLUMNS.index("start_date"),
    COLUMNS.index("meta_1"),
    COLUMNS.index("meta_5"),
    COLUMNS.index("value"),
)
DATA_WIDTHS = [18, 14, 8, 14, 12, 30, 22, 16, 14, 10, 10, 10, 10, 14]
PERIOD_WORDS = {"daily": "day", "weekly": "week", "monthly": "month"}


def sheet_name(metric: str) -> str:
    """A metric type as a legal sheet name (Excel forbids []:*?/\\ and >31 characters)."""
    return re.sub(r"[\[\]:*?/\\]", "_", metric)[:31]


def write_workbook(
    path: Path,
    rows: pa.Table,
    summary: Summary,
    generated_at: dt.datetime,
    extra: list[Sheet] | None = None,
    figures: str | None = None,
) -> dict[str, int]:
    """Write the workbook to ``path``; returns the number of data rows per sheet.
    ``extra``: the analytics sheets (``analytics.py``), after the data and pivot sheets.
    ``figures``: the digest of what it shows (fingerprint.py), kept as a custom document
    property so that a later run can tell whether the file needs writing again."""
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
    if figures is not None:
        book.set_custom_property(PROPERTY, figures)
    styles = Styles(book)
    counts = {metric: part.num_rows for metric, part in parts.items()}
    summary_sheet = book.add_worksheet(SUMMARY)
    # The Summary is small: kept in memory so that XlsxWriter can give the charts cached
    # series (in constant_memory mode it has nothing to read them from).
    summary_sheet.constant_memory = False
    for metric, part in parts.items():
        _write_data_sheet(book, metric, part, styles)
    pivots = [_write_pivot_sheet(book, metric, part, styles) for metric, part in parts.items()]
    write_sheets(book, extra or [], styles)
    _write_summary(book, summary_sheet, summary, counts, styles, generated_at)
    book.close()
    # The data rows go straight into the package (see sheetxml.py), with the styles
    # XlsxWriter numbered when it closed the book.
    date_style = styles["date"].xf_index
    bodies = {
        sheet_name(metric): (f"A1:N{part.num_rows + 1}", _body(part, date_style, styles, metric))
        for metric, part in parts.items()
    }
    for pivot, metric in zip(pivots, parts, strict=True):
        value_style = styles.get("value", number_format(metric)).xf_index
        bodies[pivot.sheet] = (
            f"A1:{pivot.ref.split(':')[1]}",
            functools.partial(grid_xml, pivot, date_style, value_style),
        )
    add_pivots(path, pivots, bodies)
    return counts


def _body(part: pa.Table, date_style: int, styles: Styles, metric: str) -> Body:
    value_style = styles.get("value", number_format(metric)).xf_index
    return lambda: rows_xml(part, 2, {START_DATE: date_style, VALUE: value_style})


# -- styles -----------------------------------------------------------------------------

BLUE, PALE, AMBER = "#1F4E78", "#DDEBF7", "#FFF2CC"
COUNT_FORMAT = "#,##0"  # "#,##0.##" would show 4488 as "4,488." in Excel
AVERAGE_FORMAT = "#,##0.0"
MONEY_FORMAT = "#,##0.00"


def number_format(metric: str, currency: str | None = None) -> str:
    """Integers as integers, money with two decimals and its currency."""
    if metric in MONEY_TYPES:
        return MONEY_FORMAT + (f' "{currency}"' if currency else "")
    return AVERAGE_FORMAT if is_average(metric) else COUNT_FORMAT


class Styles:
    """Cell formats made once per distinct look (XlsxWriter wants each format added once)."""

    LOOKS: dict[str, dict[str, object]] = {
        "title": {"bold": True, "font_size": 16},
        "note": {"italic": True, "font_color": "#595959"},
        "warning": {"italic": True, "font_color": "#7F6000", "bg_color": AMBER},
        "header": {"bold": True, "bg_color": BLUE, "font_color": "#FFFFFF", "align": "center"},
        "section": {"bold": True, "bg_color": PALE},
        "platform": {"bold": True},
        "plan": {"indent": 2},
        "total": {"bold": True, "top": 1},
        "date": {"num_format": "yyyy-mm-dd"},
    }

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.book = book
        self.made: dict[tuple[str, str | None, bool], Format] = {}

    def __getitem__(self, look: str) -> Format:
        return self.get(look)

    def get(self, look: str, num_format: str | None = None, partial: bool = False) -> Format:
        key = (look, num_format, partial)
        if key not in self.made:
            properties = dict(self.LOOKS.get(look, {}))
            if num_format:
                properties["num_format"] = num_format
            if partial:  # the newest period holds only some of its days
                properties.update({"italic": True, "bg_color": AMBER})
                if look == "header":
                    properties["font_color"] = "#7F6000"
            self.made[key] = self.book.add_format(properties)
        return self.made[key]


# -- data sheets ------------------------------------------------------------------------


def _write_data_sheet(
    book: xlsxwriter.Workbook, metric: str, part: pa.Table, styles: Styles
) -> None:
    sheet = book.add_worksheet(sheet_name(metric))
    # XlsxWriter refuses add_table() in constant_memory mode only because the table writes
    # its header cells into the row buffer; nothing is flushed yet at row 0, so it is safe
    # to add the table with the mode off for this one call and then write the headers as
    # in-line strings ourselves (the shared-string cells the table wrote are replaced).
    sheet.constant_memory = False
    last_column = len(HEADERS) - 1
    sheet.add_table(
        0,
        0,
        1,
        last_column,
        {
            "name": "Data_" + re.sub(r"\W", "_", metric),
            "columns": [{"header": header} for header in HEADERS],
            "style": "Table Style Light 9",
        },
    )
    sheet.constant_memory = True
    # add_table() walks every cell of its range to refuse later overlapping tables (about
    # a second for 500,000 cells); this sheet gets no other table, so the table is added
    # over one body row and its ranges widened to the real rows afterwards.
    table = sheet.tables[-1]
    whole = xl_range(0, 0, max(part.num_rows, 1), last_column)
    table["range"] = table["a_range"] = table["autofilter"] = whole
    sheet.table_cells.clear()
    # The body rows are streamed into the package after close (sheetxml.py).
    sheet.write_row(0, 0, HEADERS)
    sheet.freeze_panes(1, 0)
    _print_setup(sheet, metric)
    sheet.repeat_rows(0)  # the headers on every printed page
    for column, width in enumerate(DATA_WIDTHS):
        style = (
            styles["date"]
            if column == START_DATE
            else styles.get("value", number_format(metric))
            if column == VALUE
            else None
        )
        sheet.set_column(column, column, width, style)


def pivot_sheet_name(metric: str) -> str:
    return sheet_name("Pivot " + metric)


def _write_pivot_sheet(
    book: xlsxwriter.Workbook, metric: str, part: pa.Table, styles: Styles
) -> Pivot:
    """A sheet holding a real pivot table of the metric's data sheet (platform and plan down,
    start dates across; money by currency first), with its cells written as values too."""
    money = metric in MONEY_TYPES
    rows = ("Meta 5", "Platform", "Meta 1") if money else ("Platform", "Meta 1")
    name = pivot_sheet_name(metric)
    pivot = build(
        "Pivot_" + re.sub(r"\W", "_", metric),
        name,
        sheet_name(metric),
        part,
        rows,
        "Start Date",
        money=money,
        stock=is_stock(metric),
    )
    sheet = book.add_worksheet(name)
    _print_setup(sheet, name)
    note = f"Pivot table of '{sheet_name(metric)}' (refreshed when opened)"
    sheet.write(0, 0, note, styles["note"])
    sheet.set_column(0, len(rows) - 1, 24)
    sheet.set_column(len(rows), len(pivot.grid[1]), 12)
    # The drawn cells are streamed into the package after close (pivottable.grid_xml).
    return pivot


def _print_setup(sheet: Worksheet, title: str) -> None:
    """Landscape A4, one page wide, the sheet's name and page numbers in header/footer."""
    sheet.set_landscape()
    sheet.set_paper(9)
    sheet.fit_to_pages(1, 0)
    sheet.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    sheet.set_header('&L&"-,Bold"' + title.replace("&", "&&") + "&R&D")
    sheet.set_footer("&CPage &P of &N")


# -- summary ----


def _title(summary: Summary) -> str:
    word = PERIOD_WORDS[summary.period]
    return (
        f"Subscription report: {summary.country_name} ({summary.country}), {summary.period}, "
        f"{word} of {summary.periods[-1].isoformat()}"
    )


@dataclass(frozen=True)
class Columns:
    """Where the Summary's columns are: periods, the like-for-like base, change, change %."""

    first: int
    last: int  # the newest period
    same_days: int | None  # only when the newest period is partial
    change: int
    ratio: int

    @classmethod
    def of(cls, summary: Summary) -> Columns:
        last = FIRST_PERIOD_COLUMN + len(summary.periods) - 1
        same = last + 1 if summary.partial else None
        change = (same or last) + 1
        return cls(FIRST_PERIOD_COLUMN, last, same, change, change + 1)


def _write_summary(
    book: xlsxwriter.Workbook,
    sheet: Worksheet,
    summary: Summary,
    counts: dict[str, int],
    styles: Styles,
    generated_at: dt.datetime,
) -> None:
    columns = Columns.of(summary)
    _write_heading(sheet, summary, columns, styles, generated_at)
    row = HEADER_ROW + 1
    totals: dict[str, int] = {}
    for section in summary.sections:
        row = _write_section_title(sheet, row, section.title, columns, styles)
        rows_in_sheet = counts.get(section.metric, 0)
        for line in section.lines:
            _write_line(sheet, row, section, line, rows_in_sheet, columns, styles)
            row += 1
        if section.currency is None:
            totals[section.metric] = row - 1
        row += 1
    row = _write_rates(sheet, row, summary, totals, columns, styles)
    _add_charts(book, sheet, summary, totals, row + 1)


def _write_heading(
    sheet: Worksheet,
    summary: Summary,
    columns: Columns,
    styles: Styles,
    generated_at: dt.datetime,
) -> None:
    fresh = summary.fresh_until.isoformat() if summary.fresh_until else "no daily rows"
    sheet.write(0, 0, _title(summary), styles["title"])
    sheet.write(
        1,
        0,
        f"Data loaded to {fresh} (the newest day in the warehouse for {summary.country}); "
        f"generated {generated_at:%Y-%m-%d %H:%M} UTC",
        styles["note"],
    )
    sheet.write(
        2,
        0,
        "Every number is a SUMIFS over the metric's data sheet; blank: before the data starts.",
        styles["note"],
    )
    partial = summary.partial
    if partial:
        word = PERIOD_WORDS[summary.period]
        sheet.write(
            3,
            0,
            f"The {word} of {summary.periods[-1]:%Y-%m-%d} is partial: {partial.days} day(s), "
            f"to {partial.newest_day:%Y-%m-%d}. 'Same days before' is "
            f"{partial.base_first:%Y-%m-%d} to {partial.base_last:%Y-%m-%d} (from the daily "
            "rows); Change compares with it.",
            styles["warning"],
        )
    sheet.write(HEADER_ROW, 0, "Metric / platform / plan", styles["header"])
    for offset, start in enumerate(summary.periods):
        column = columns.first + offset
        newest = partial is not None and column == columns.last
        date_format = 'yyyy-mm-dd" (partial)"' if newest else "yyyy-mm-dd"
        sheet.write_datetime(
            HEADER_ROW,
            column,
            dt.datetime.combine(start, dt.time()),
            styles.get("header", date_format, newest),
        )
    if columns.same_days is not None:
        sheet.write(HEADER_ROW, columns.same_days, "Same days before", styles["header"])
    sheet.write(HEADER_ROW, columns.change, "Change", styles["header"])
    sheet.write(HEADER_ROW, columns.ratio, "Change %", styles["header"])
    sheet.freeze_panes(HEADER_ROW + 1, 1)
    _print_setup(sheet, _title(summary))
    sheet.set_column(0, 0, 40)
    sheet.set_column(columns.first, columns.ratio, 12)
    sheet.set_column(columns.last, columns.last, 18)
    if columns.same_days is not None:
        sheet.set_column(columns.same_days, columns.same_days, 16)


def _write_section_title(
    sheet: Worksheet, row: int, title: str, columns: Columns, styles: Styles
) -> int:
    sheet.write(row, 0, title, styles["section"])
    for column in range(columns.first, columns.ratio + 1):
        sheet.write_blank(row, column, None, styles["section"])
    return row + 1


def _write_line(
    sheet: Worksheet,
    row: int,
    section: Section,
    line: Line,
    rows_in_sheet: int,
    columns: Columns,
    styles: Styles,
) -> None:
    kind = "total" if line.platform is None else "plan" if line.plan is not None else "platform"
    label = "Total" if kind == "total" else line.plan if kind == "plan" else line.platform
    sheet.write_string(row, 0, label or "(blank)", styles[kind])
    shown = number_format(section.metric, section.currency)
    for offset, value in enumerate(line.values):
        column = columns.first + offset
        style = styles.get(kind, shown, line.partial and column == columns.last)
        if value is None:  # before the metric's data starts: blank, not 0
            sheet.write_blank(row, column, None, style)
            continue
        formula = sumifs(
            section.metric, rows_in_sheet, column, line.platform, line.plan, section.currency
        )
        sheet.write_formula(row, column, formula, style, value)
    base = xl_rowcol_to_cell(row, columns.last - 1)
    if columns.same_days is not None:
        base = xl_rowcol_to_cell(row, columns.same_days)
        if line.same_days is None:
            sheet.write_blank(row, columns.same_days, None, styles.get(kind, shown))
        else:
            sheet.write_number(row, columns.same_days, line.same_days, styles.get(kind, shown))
    newest = xl_rowcol_to_cell(row, columns.last)
    if line.change is None:
        sheet.write_blank(row, columns.change, None, styles.get(kind, shown))
    else:
        sheet.write_formula(
            row, columns.change, f"={newest}-{base}", styles.get(kind, shown), line.change
        )
    if line.change_ratio is None:  # no base, or a base of 0: no percentage means anything
        sheet.write_blank(row, columns.ratio, None, styles.get(kind, "0.0%"))
    else:
        sheet.write_formula(
            row,
            columns.ratio,
            f"={newest}/{base}-1",
            styles.get(kind, "0.0%"),
            line.change_ratio,
        )


RATES = (
    # (title, numerator, denominator, denominator from the period before)
    (
        "Churn rate (churn / active at the end of the period before)",
        "Churn",
        "Active subscriber",
        True,
    ),
    (
        "Trial conversion rate (conversions / free trials started)",
        "Trial conversion",
        "Free trial",
        False,
    ),
)


def _write_rates(
    sheet: Worksheet,
    row: int,
    summary: Summary,
    totals: dict[str, int],
    columns: Columns,
    styles: Styles,
) -> int:
    """Rate sections as formulas over the Summary's own total rows."""
    for title, numerator, denominator, shifted in RATES:
        top_section, bottom_section = summary.section(numerator), summary.section(denominator)
        if numerator not in totals or denominator not in totals:
            continue
        if top_section is None or bottom_section is None:
            continue
        top, bottom = top_section.total.values, bottom_section.total.values
        row = _write_section_title(sheet, row, title, columns, styles)
        sheet.write_string(row, 0, "Total", styles["total"])
        for offset in range(len(summary.periods)):
            column = columns.first + offset
            below = offset - 1 if shifted else offset
            style = styles.get(
                "total", "0.0%", summary.partial is not None and column == columns.last
            )
            value, base = top[offset], bottom[below] if below >= 0 else None
            if value is None or not base:
                sheet.write_blank(row, column, None, style)
                continue
            formula = (
                f"={xl_rowcol_to_cell(totals[numerator], column)}"
                f"/{xl_rowcol_to_cell(totals[denominator], columns.first + below)}"
            )
            sheet.write_formula(row, column, formula, style, value / base)
        row += 2
    return row


def sumifs(
    metric: str,
    rows_in_sheet: int,
    column: int,
    platform: str | None,
    plan: str | None,
    currency: str | None = None,
) -> str:
    """The SUMIFS of one Summary cell over its metric's data sheet."""
    sheet = "'" + sheet_name(metric).replace("'", "''") + "'!"
    end = max(rows_in_sheet, 1) + 1

    def span(index: int) -> str:
        letter = xl_col_to_name(index)
        return f"{sheet}${letter}$2:${letter}${end}"

    header = xl_rowcol_to_cell(HEADER_ROW, column, row_abs=True)
    parts = [span(VALUE), span(START_DATE), header]
    if currency is not None:
        parts += [span(CURRENCY), criterion("" if currency == NO_CURRENCY else currency)]
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
        active.show_blanks_as("gap")  # no line from zero where the data has not started
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
