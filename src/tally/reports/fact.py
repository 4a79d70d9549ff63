"""The report table tally's reports read: ``marts.report_fact``, one long row per metric value.

Columns and their spreadsheet headers follow the seed's data structure (Type, Resolution
Type, Country, Platform, Start Date, Meta 1 … Meta 8, value).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tally.errors import ConfigError
from tally.warehouse import Warehouse

if TYPE_CHECKING:  # pyarrow is imported where rows are read: `tally pivot` needs none
    import pyarrow as pa

TABLE = "marts.report_fact"

COLUMNS: tuple[str, ...] = (
    "type",
    "resolution_type",
    "country",
    "platform",
    "start_date",
    *(f"meta_{n}" for n in range(1, 9)),
    "value",
)

HEADERS: tuple[str, ...] = (
    "Type",
    "Resolution Type",
    "Country",
    "Platform",
    "Start Date",
    *(f"Meta {n}" for n in range(1, 9)),
    "value",
)

COLUMN_OF_HEADER = {header.lower(): column for header, column in zip(HEADERS, COLUMNS, strict=True)}


@functools.cache
def schema() -> pa.Schema:
    """The Arrow schema of ``COLUMNS``: dates for start_date, numbers for value, else text."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(column, pa.date32() if column == "start_date" else pa.string())
            for column in COLUMNS[:-1]
        ]
        + [pa.field("value", pa.float64())]
    )


def __getattr__(name: str) -> object:
    """``SCHEMA``: the Arrow schema, built (and pyarrow imported) on first use."""
    if name == "SCHEMA":
        return schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PERIODS: tuple[str, ...] = ("daily", "weekly", "monthly")

# The order metric sheets appear in a workbook; types the marts add later follow, sorted.
KNOWN_TYPES: tuple[str, ...] = (
    "Active subscriber",
    "Active subscriber (average)",
    "New subscriber",
    "Churn",
    "Renewal",
    "Free trial",
    "Trial conversion",
    "Plan change",
    "Reactivation",
    "Refund",
    "Revenue",
    "Proceeds",
)


# Types whose value is an amount of money (currency in meta_5); the rest are counts.
MONEY_TYPES = frozenset({"Revenue", "Proceeds"})


def is_stock(metric: str) -> bool:
    """A point-in-time count (Active …: the stock at the period's end), not a flow."""
    return metric.startswith("Active") and not is_average(metric)


def is_average(metric: str) -> bool:
    return metric.endswith("(average)")


def column_for(header: str) -> str | None:
    """The column behind a header, case- and spacing-insensitive (``Meta 1`` → ``meta_1``)."""
    key = " ".join(header.replace("_", " ").split()).lower()
    return COLUMN_OF_HEADER.get(key)


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise ConfigError(f"period {period!r} is not one of {', '.join(PERIODS)}")
    return period


def period_start(day: dt.date, period: str) -> dt.date:
    """First day of the period holding ``day``: itself, its ISO Monday, or the 1st."""
    check_period(period)
    if period == "weekly":
        return day - dt.timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return day


def period_end(start: dt.date, period: str) -> dt.date:
    """Last day of the period starting on ``start``."""
    if period == "weekly":
        return start + dt.timedelta(days=6)
    if period == "monthly":
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(1)
    return start


def previous_start(start: dt.date, period: str) -> dt.date:
    if period == "weekly":
        return start - dt.timedelta(days=7)
    if period == "monthly":
        return (start - dt.timedelta(days=1)).replace(day=1)
    return start - dt.timedelta(days=1)


def last_periods(day: dt.date, period: str, count: int) -> list[dt.date]:
    """Start dates of the ``count`` periods ending with the one holding ``day``, oldest first."""
    starts = [period_start(day, period)]
    while len(starts) < count:
        starts.append(previous_start(starts[-1], period))
    return starts[::-1]


def order_types(types: Sequence[str]) -> list[str]:
    known = [t for t in KNOWN_TYPES if t in types]
    return known + sorted(t for t in types if t not in KNOWN_TYPES)


def report_rows(warehouse: Warehouse, country: str, period: str, day: dt.date) -> pa.Table:
    """Every row of one country and resolution up to the period holding ``day``, sorted."""
    names = ", ".join(COLUMNS)
    table = warehouse.query(
        f"SELECT {names} FROM {TABLE} WHERE country = ? AND resolution_type = ? "
        "AND start_date <= ? ORDER BY type, start_date, platform, meta_1, meta_2, meta_3, meta_4",
        [country, period, period_start(day, period)],
    )
    return conform(table)


def conform(table: pa.Table) -> pa.Table:
    """The table in ``schema()`` (PostgreSQL answers an empty result with untyped columns)."""
    import pyarrow as pa

    wanted = schema()
    if table.num_rows == 0:
        return wanted.empty_table()
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in wanted], schema=wanted)


def freshness(warehouse: Warehouse, country: str) -> dt.date | None:
    """The newest day loaded for a country: the start of its newest daily row (a week or a
    month may hold only some of its days). None without daily rows."""
    found = warehouse.rows(
        f"SELECT max(start_date) FROM {TABLE} WHERE country = ? AND resolution_type = 'daily'",
        [country],
    )
    newest = found[0][0] if found else None
    return newest.date() if isinstance(newest, dt.datetime) else newest
