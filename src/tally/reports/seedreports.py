"""The seed's other reports as workbooks, each named as the seed's "Related Reports" names it.

| kind | the seed's name | from |
| --- | --- | --- |
| ``yellow`` | Daily/Weekly/Monthly yellow report | ``marts.yellow_report`` (Google Analytics) |
| ``ad`` | Report related to AD | ``marts.dim_ad_unit`` (the Ad Unit & position map) |
| ``telco`` | Telco performance | ``marts.telco_performance`` (the telco sheet beside tally) |
| ``content-window`` | Correlation between content window and subscription |
  ``marts.content_window``, ``marts.content_correlation`` (CMS) |

A report is one or more tables on sheets of their own: a title, a line saying what it
shows, a header row and the rows. Ratios and differences are formulas over the row's own
cells, written with the value tally computed as their cached result, and the totals row
sums its column; LibreOffice's recalculation gives the same numbers (tests/reports).
Files go to ``<root>/<kind>-report/[<period>/]<kind>-<cc>-<date>.xlsx``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tally.errors import NotFoundError
from tally.reports.fact import PERIODS, check_period, last_periods, period_end
from tally.reports.fingerprint import LAYOUT_VERSION, PROPERTY, canonical, stored
from tally.warehouse import Warehouse
from tally.warehouse.sqlfiles import sql_file

if TYPE_CHECKING:
    from tally.config import Settings
    from tally.reports.subscription import Written

PERIODS_SHOWN = {"daily": 30, "weekly": 13, "monthly": 12}
FORMATS = {
    "count": "#,##0",
    "money": "#,##0.00",
    "ratio": "0.0%",
    "corr": "0.000",
    "date": "yyyy-mm-dd",
    "text": "@",
}


@dataclass(frozen=True)
class Column:
    """One column: its header, its look, and for a computed column its formula, written
    with ``{r}`` for the row's number (``=IF(B{r}=0,"",C{r}/B{r})``)."""

    header: str
    look: str = "count"
    formula: str | None = None
    total: bool = False  # summed in the totals row


@dataclass(frozen=True)
class Table:
    sheet: str
    title: str
    note: str
    columns: tuple[Column, ...]
    rows: list[list[Any]] = field(default_factory=list)  # formula cells: the cached value


@dataclass(frozen=True)
class Kind:
    name: str
    seed_name: str
    periodic: bool  # daily/weekly/monthly files, else one per day
    tables: Callable[[Warehouse, str, str, dt.date], list[Table]]


def _ratio(part: float | None, whole: float | None) -> float | str:
    return "" if not whole or part is None else part / whole


def _need(warehouse: Warehouse, table: str, source: str) -> None:
    if not warehouse.table_exists(table):
        raise NotFoundError(f"{table} was not built: load {source} and run tally build")


# -- the yellow report ----------------------------------------------------------------------


def yellow_tables(warehouse: Warehouse, country: str, period: str, day: dt.date) -> list[Table]:
    """Web UV, UV with a video view, and the same for Yahoo lead-ins, per period."""
    _need(warehouse, "marts.yellow_report", "the google-analytics source")
    starts = last_periods(day, period, PERIODS_SHOWN[period])
    found = warehouse.rows(
        sql_file("tally.reports", "queries/yellow.sql"),
        [country, period, starts[0], starts[-1]],
    )
    if not found:
        raise NotFoundError(f"marts.yellow_report has no {period} rows for {country} up to {day}")
    rows = []
    for start, end, complete, web, web_vv, yahoo, yahoo_vv in found:
        rows.append(
            [start, end, "yes" if complete else "so far", web, web_vv, _ratio(web_vv, web)]
            + [yahoo, yahoo_vv, _ratio(yahoo_vv, yahoo), _ratio(yahoo, web)]
        )
    columns = (
        Column("Start Date", "date"),
        Column("Loaded to", "date"),
        Column("Complete", "text"),
        Column("Web UV"),
        Column("Web UV with VV"),
        Column("VV share", "ratio", '=IF(D{r}=0,"",E{r}/D{r})'),
        Column("Yahoo leadin UV"),
        Column("Yahoo leadin UV with VV"),
        Column("Yahoo VV share", "ratio", '=IF(G{r}=0,"",H{r}/G{r})'),
        Column("Yahoo share of web UV", "ratio", '=IF(D{r}=0,"",G{r}/D{r})'),
    )
    note = (
        f"Google Analytics unique visitors, {period}: a period's uniques are GA's own count "
        "for it, never a sum of shorter periods (so no totals). 'so far': the period's "
        "last day is not loaded yet."
    )
    return [Table("Yellow report", f"Yellow report {country} ({period})", note, columns, rows)]


# -- the AD report --------------------------------------------------------------------------


def ad_tables(warehouse: Warehouse, country: str, period: str, day: dt.date) -> list[Table]:
    """The ad units of the country and how many serve each placement."""
    _need(warehouse, "marts.dim_ad_unit", "the google-drive ad-units sheet")
    units = warehouse.rows(
        "SELECT ad_unit_id, ad_unit_name, platform, position, placement, snapshot_date "
        "FROM marts.dim_ad_unit WHERE country = ? ORDER BY placement, ad_unit_id",
        [country],
    )
    if not units:
        raise NotFoundError(f"marts.dim_ad_unit has no ad units for {country}")
    last = len(units) + 4  # data rows are 5 .. 4 + n on the Ad units sheet
    placements = sorted({unit[4] for unit in units})
    counted = [[p, sum(1 for u in units if u[4] == p)] for p in placements]
    return [
        Table(
            "Ad units",
            f"Ad units {country}",
            f"The ad operations team's Ad Unit & position map (snapshot of {units[0][5]}).",
            (
                Column("Ad unit id", "text"),
                Column("Ad unit name", "text"),
                Column("Platform", "text"),
                Column("Position", "text"),
                Column("Placement", "text"),
                Column("Snapshot", "date"),
            ),
            [list(unit) for unit in units],
        ),
        Table(
            "Placements",
            f"Placements {country}",
            "Ad units serving each placement (platform / position), counted on 'Ad units'.",
            (
                Column("Placement", "text"),
                Column("Ad units", "count", f"=COUNTIF('Ad units'!$E$5:$E${last},A{{r}})", True),
            ),
            counted,
        ),
    ]


# -- the telco report -----------------------------------------------------------------------


def telco_tables(warehouse: Warehouse, country: str, period: str, day: dt.date) -> list[Table]:
    """The telco partners' own daily figures beside tally's, each day of the period."""
    _need(warehouse, "marts.telco_performance", "the google-drive telco-performance sheet")
    first = last_periods(day, period, 1)[0]
    found = warehouse.rows(
        sql_file("tally.reports", "queries/telco.sql"),
        [country, first, min(day, period_end(first, period))],
    )
    if not found:
        raise NotFoundError(
            f"marts.telco_performance has no rows for {country} in {first}'s {period}"
        )
    rows = []
    for d, telco, plan, currency, s_new, t_new, s_can, t_churn, s_act, t_act, s_rev, t_rev in found:
        rows.append(
            [d, telco, plan, currency, s_new, t_new, (t_new or 0) - (s_new or 0)]
            + [s_can, t_churn, (t_churn or 0) - (s_can or 0)]
            + [s_act, t_act, (t_act or 0) - (s_act or 0)]
            + [s_rev, t_rev, (t_rev or 0) - (s_rev or 0)]
        )
    columns: tuple[Column, ...] = (
        Column("Day", "date"),
        Column("Telco", "text"),
        Column("Plan", "text"),
        Column("Currency", "text"),
        Column("Telco: new", total=True),
        Column("tally: new", total=True),
        Column("New: difference", "count", "=F{r}-E{r}", True),
        Column("Telco: cancelled", total=True),
        Column("tally: churn", total=True),
        Column("Cancelled: difference", "count", "=I{r}-H{r}", True),
        Column("Telco: active"),
        Column("tally: active"),
        Column("Active: difference", "count", "=L{r}-K{r}"),
        Column("Telco: revenue", "money"),
        Column("tally: revenue", "money"),
        Column("Revenue: difference", "money", "=O{r}-N{r}"),
    )
    currencies = {row[3] for row in rows}
    if len(currencies) == 1:  # money is summed only within one currency
        columns = tuple(
            Column(c.header, c.look, c.formula, True) if c.look == "money" else c for c in columns
        )
    note = (
        "The telco partners' daily sheet (telco-performance) beside tally's Telco figures for "
        "the same day, country and plan; difference = tally - telco. Active is a day's stock "
        "(not totalled)."
    )
    return [Table("Telco", f"Telco performance {country} ({period})", note, columns, rows)]


# -- the content window report --------------------------------------------------------------


def content_tables(warehouse: Warehouse, country: str, period: str, day: dt.date) -> list[Table]:
    """New subscribers in the days before and after each episode release, and Pearson's r
    between releases and new subscribers."""
    _need(warehouse, "marts.content_window", "the viu-cms source")
    found = warehouse.rows(
        sql_file("tally.reports", "queries/content_window.sql"),
        [country, day],
    )
    if not found:
        raise NotFoundError(f"marts.content_window has no releases for {country} up to {day}")
    rows = [
        [title, number, released, before, after, after - before, _ratio(after - before, before)]
        + [days_before, days_after]
        for title, number, released, before, after, days_before, days_after in found
    ]
    windows = Table(
        "Content window",
        f"Content window {country}",
        "New subscribers (New subscriber + Reactivation) in the window of days before each "
        "release and the same number of days from it; a window past the loaded days is "
        "partial (see the day counts).",
        (
            Column("Series", "text"),
            Column("Episode", "count"),
            Column("Released", "date"),
            Column("Subscribers before"),
            Column("Subscribers after"),
            Column("Uplift", "count", "=E{r}-D{r}"),
            Column("Uplift %", "ratio", '=IF(D{r}=0,"",F{r}/D{r})'),
            Column("Days before"),
            Column("Days after"),
        ),
        rows,
    )
    return [windows, *_correlation(warehouse, country)]


def _correlation(warehouse: Warehouse, country: str) -> list[Table]:
    if not warehouse.table_exists("marts.content_correlation"):
        return []
    found = warehouse.rows(
        "SELECT first_day, last_day, days, episodes_released, correlation_same_day, "
        "correlation_next_day "
        "FROM marts.content_correlation WHERE country = ?",
        [country],
    )
    return [
        Table(
            "Correlation",
            f"Releases and new subscribers {country}",
            "Pearson's r between episodes released on a day and that day's (and the next "
            "day's) new subscribers, over every loaded day; empty when a series is constant.",
            (
                Column("First day", "date"),
                Column("Last day", "date"),
                Column("Days"),
                Column("Episodes released"),
                Column("r (same day)", "corr"),
                Column("r (next day)", "corr"),
            ),
            [list(row) for row in found],
        )
    ]


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("yellow", "Daily/Weekly/Monthly yellow report", True, yellow_tables),
        Kind("ad", "Report related to AD", False, ad_tables),
        Kind("telco", "Telco performance", True, telco_tables),
        Kind(
            "content-window",
            "Correlation between content window and subscription",
            False,
            content_tables,
        ),
    )
}


def report_location(root: str, kind: Kind, period: str, country: str, day: dt.date) -> str:
    folder = f"{root.rstrip('/')}/{kind.name}-report" + (f"/{period}" if kind.periodic else "")
    return f"{folder}/{kind.name}-{country.lower()}-{day.isoformat()}.xlsx"


def kind_of(name: str) -> Kind:
    if name not in KINDS:
        raise NotFoundError(f"no report {name!r}; reports: {', '.join(KINDS)}")
    return KINDS[name]


def build_tables(
    warehouse: Warehouse, kind: Kind, country: str, period: str, day: dt.date
) -> list[Table]:
    """The report's tables (``period`` is checked, and ignored by the non-periodic kinds)."""
    check_period(period)
    return kind.tables(warehouse, country, period, day)


def digest(kind: Kind, tables: list[Table]) -> str:
    """The figures digest of a report (see fingerprint.py)."""
    text = f"{LAYOUT_VERSION}/{kind.name}\x00{canonical(tables)}"
    return hashlib.sha256(text.encode()).hexdigest()


# -- the workbook ---------------------------------------------------------------------------


def write_tables(path: Path, title: str, tables: list[Table], figures: str) -> None:
    """One sheet per table, formulas with their cached values, print set up."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    book.set_properties({"title": title, "subject": title, "author": "tally"})
    book.set_custom_property(PROPERTY, figures)
    looks = {name: book.add_format({"num_format": f}) for name, f in FORMATS.items()}
    bold = {
        name: book.add_format({"num_format": f, "bold": True, "top": 1})
        for name, f in FORMATS.items()
    }
    heading = book.add_format({"bold": True, "font_size": 14})
    note = book.add_format({"italic": True, "font_color": "#595959"})
    header = book.add_format({"bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF"})
    for table in tables:
        sheet = book.add_worksheet(table.sheet)
        sheet.write(0, 0, table.title, heading)
        sheet.write(1, 0, table.note, note)
        sheet.write_row(3, 0, [c.header for c in table.columns], header)
        for index, row in enumerate(table.rows, start=4):
            _write_row(sheet, index, table.columns, row, looks)
        if any(c.total for c in table.columns) and table.rows:
            _write_totals(sheet, len(table.rows) + 4, table, bold)
        for number, column in enumerate(table.columns):
            sheet.set_column(number, number, max(12, len(column.header) + 2))
        _print_setup(sheet, table, len(table.rows) + 5)
    book.close()


def _write_row(
    sheet: Any, index: int, columns: tuple[Column, ...], row: list[Any], looks: dict[str, Any]
) -> None:
    for number, (column, value) in enumerate(zip(columns, row, strict=True)):
        look = looks[column.look]
        if column.formula:
            formula = column.formula.format(r=index + 1)
            sheet.write_formula(index, number, formula, look, value)
        elif value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        elif isinstance(value, dt.date):
            sheet.write_datetime(index, number, value, look)
        elif isinstance(value, str):
            sheet.write_string(index, number, value, look)
        elif _is_number(value):
            sheet.write_number(index, number, float(value), look)
        else:
            sheet.write_string(index, number, str(value), look)


def _write_totals(sheet: Any, index: int, table: Table, bold: dict[str, Any]) -> None:
    from xlsxwriter.utility import xl_col_to_name

    sheet.write_string(index, 0, "Total", bold["text"])
    for number, column in enumerate(table.columns):
        if not column.total or number == 0:
            continue
        letter = xl_col_to_name(number)
        values = [row[number] for row in table.rows if _is_number(row[number])]
        formula = f"=SUM({letter}5:{letter}{index})"
        sheet.write_formula(index, number, formula, bold[column.look], float(sum(values)))


def _is_number(value: Any) -> bool:
    """A finite number (NaN, e.g. a correlation over one day, is left blank)."""
    if not isinstance(value, numbers.Real | decimal.Decimal) or isinstance(value, bool):
        return False
    return math.isfinite(float(value))


def _print_setup(sheet: Any, table: Table, last_row: int) -> None:
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(3)
    sheet.freeze_panes(4, 1)
    sheet.set_header(f"&L{table.title}")
    sheet.set_footer("&CPage &P of &N")
    sheet.print_area(0, 0, last_row, len(table.columns) - 1)


# -- end to end -----------------------------------------------------------------------------


def write_seed_report(
    warehouse: Warehouse,
    settings: Settings,
    kind_name: str,
    country: str,
    period: str,
    day: dt.date,
    *,
    root: str | None = None,
    only_changed: bool = False,
) -> Written:
    """Write one report of ``kind_name`` for a country (and period); with ``only_changed``
    a file already there showing the same figures is left alone."""
    import tempfile

    from tally.lake.publish import publish
    from tally.reports.subscription import Written, _read, default_root

    kind = kind_of(kind_name)
    configured = settings.country(country)
    tables = build_tables(warehouse, kind, configured.code, period, day)
    location = report_location(root or default_root(settings), kind, period, configured.code, day)
    figures = digest(kind, tables)
    before = _read(location, settings) if only_changed else None
    changed = before is None or stored(before) != figures
    if changed:
        with tempfile.TemporaryDirectory(prefix="tally-report-") as scratch:
            local = Path(scratch) / Path(location).name
            title = f"{kind.seed_name}: {configured.name}" + (
                f", {period}" if kind.periodic else ""
            )
            write_tables(local, f"{title}, {day.isoformat()}", tables, figures)
            publish(local, location, s3_endpoint_url=settings.s3_endpoint_url)
    rows = {table.sheet: len(table.rows) for table in tables}
    return Written(location, configured.code, period, rows, (), changed)


def write_seed_reports(
    warehouse: Warehouse,
    settings: Settings,
    day: dt.date,
    *,
    root: str | None = None,
    only_changed: bool = False,
) -> tuple[list[Written], list[str]]:
    """Every kind × configured country (× period for the periodic kinds); returns the
    reports written (or found unchanged) and the ones skipped, with the reason."""
    written, skipped = [], []
    for kind in KINDS.values():
        for country in settings.countries:
            for period in PERIODS if kind.periodic else ("daily",):
                try:
                    with warehouse.session():  # one per report (subscription.write_all_reports)
                        written.append(
                            write_seed_report(
                                warehouse,
                                settings,
                                kind.name,
                                country.code,
                                period,
                                day,
                                root=root,
                                only_changed=only_changed,
                            )
                        )
                except NotFoundError as error:
                    skipped.append(f"{kind.name}: {error}")
    return written, skipped
