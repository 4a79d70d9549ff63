"""The Summary sheet's content: metric sections with platforms and plans down, periods across.

The numbers come from the warehouse with one grouped query; the workbook writes them as the
cached results of formulas over the data sheets, so both must agree (a test recalculates
with LibreOffice to check).

Three rules keep the figures honest:
- a period before a metric's first row is blank (None), not 0, so a line does not climb
  from zero where the data simply starts;
- the newest period is *partial* when the newest loaded day falls before its end; it is then
  compared like for like, with the same number of days at the start of the period before
  (read from the daily rows: month-to-date against the same days of the previous month);
- money is never added across currencies: a money metric has one section per currency.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tally.reports.fact import (
    MONEY_TYPES,
    TABLE,
    is_average,
    is_stock,
    last_periods,
    order_types,
    period_end,
    previous_start,
)
from tally.warehouse import Warehouse
from tally.warehouse.sqlfiles import sql_file

PLATFORM_ORDER = ("iOS IAP", "Android IAP", "Telco", "Redemption", "Web")
DEFAULT_PERIOD_COUNT = {"daily": 14, "weekly": 13, "monthly": 12}
NO_CURRENCY = "no currency"  # money rows whose meta_5 is empty

Cells = dict[tuple[str, str], dict[dt.date, float]]  # (platform, plan) → start → sum


@dataclass(frozen=True)
class Line:
    """One row of a section: a platform (``plan`` None), a plan, or the total (both None).

    ``values`` has None for periods before the metric's data starts; ``same_days`` is the
    like-for-like base of a partial newest period (None when there is none or it is unknown).
    """

    platform: str | None
    plan: str | None
    values: tuple[float | None, ...]
    same_days: float | None = None
    partial: bool = False

    @property
    def base(self) -> float | None:
        """What the newest period is compared with: the previous one, or its same days."""
        if self.partial:
            return self.same_days
        return self.values[-2] if len(self.values) > 1 else None

    @property
    def change(self) -> float | None:
        if self.values[-1] is None or self.base is None:
            return None
        return self.values[-1] - self.base

    @property
    def change_ratio(self) -> float | None:
        """Newest over its base, minus one; None (an empty cell) when the base is 0 or unknown."""
        newest, base = self.values[-1], self.base
        if newest is None or not base:
            return None
        return newest / base - 1


@dataclass
class Section:
    metric: str
    currency: str | None = None  # money sections: one per currency
    lines: list[Line] = field(default_factory=list)

    @property
    def money(self) -> bool:
        return self.metric in MONEY_TYPES

    @property
    def title(self) -> str:
        return f"{self.metric} ({self.currency})" if self.currency else self.metric

    @property
    def total(self) -> Line:
        return self.lines[-1]


@dataclass
class Partial:
    """The newest period holds only ``days`` days (to ``newest_day``); compared with the
    same days of the period before: ``base_first`` to ``base_last``."""

    days: int
    newest_day: dt.date
    base_first: dt.date
    base_last: dt.date


@dataclass
class Summary:
    country: str
    country_name: str
    period: str
    day: dt.date
    periods: list[dt.date]
    sections: list[Section]
    fresh_until: dt.date | None  # the newest loaded day
    partial: Partial | None = None

    def section(self, metric: str, currency: str | None = None) -> Section | None:
        return next(
            (
                s
                for s in self.sections
                if s.metric == metric and (currency is None or s.currency == currency)
            ),
            None,
        )


def partial_period(period: str, last_start: dt.date, newest: dt.date | None) -> Partial | None:
    """The newest period's partial state: loaded to ``newest``, before the period's end."""
    if period == "daily" or newest is None:
        return None
    if not last_start <= newest < period_end(last_start, period):
        return None
    days = (newest - last_start).days + 1
    base_first = previous_start(last_start, period)
    base_last = min(base_first + dt.timedelta(days=days - 1), period_end(base_first, period))
    return Partial(days, newest, base_first, base_last)


def build_summary(
    warehouse: Warehouse,
    country: str,
    country_name: str,
    period: str,
    day: dt.date,
    metric_types: list[str],
    fresh_until: dt.date | None,
    period_count: int | None = None,
) -> Summary:
    """Sections for every metric type, over the last N periods up to ``day``."""
    periods = last_periods(day, period, period_count or DEFAULT_PERIOD_COUNT[period])
    found = warehouse.rows(
        sql_file("tally.reports", "queries/summary_cells.sql"),
        [country, period, periods[0], periods[-1]],
    )
    # Where the data starts: the country's first period of this resolution, any type (a
    # flow with nothing to count has no rows, which reads as 0, not as "not started").
    begins = warehouse.rows(
        f"SELECT MIN(start_date) FROM {TABLE} WHERE country = ? AND resolution_type = ?",
        [country, period],
    )[0][0]
    first = _as_date(begins) if begins is not None else None
    partial = partial_period(period, periods[-1], fresh_until)
    sums = _group(found)
    same_days = _same_days(warehouse, country, partial, metric_types) if partial else {}
    sections = []
    for metric in order_types(metric_types):
        for currency in sorted(sums.get(metric, {None: {}}), key=lambda c: c or ""):
            section = Section(metric, currency)
            cells = sums.get(metric, {}).get(currency, {})
            base = same_days[metric].get(currency, {}) if metric in same_days else None
            _fill(section, cells, periods, first, partial, base)
            sections.append(section)
    return Summary(country, country_name, period, day, periods, sections, fresh_until, partial)


def _group(found: list[tuple[Any, ...]]) -> dict[str, dict[str | None, Cells]]:
    """Rows of (type, meta_5, platform, plan, start, sum) → type → currency → cells; the
    currency is meta_5 for money types only (other types may use meta_5 otherwise)."""
    sums: dict[str, dict[str | None, Cells]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(dict))
    )
    for metric, meta_5, platform, plan, start, total in found:
        currency = (meta_5 or NO_CURRENCY) if metric in MONEY_TYPES else None
        cell = sums[metric][currency][(platform or "", plan or "")]
        cell[_as_date(start)] = cell.get(_as_date(start), 0.0) + float(total)
    return sums


def _same_days(
    warehouse: Warehouse, country: str, partial: Partial, metric_types: list[str]
) -> dict[str, dict[str | None, dict[tuple[str, str], float]]]:
    """The like-for-like base of each line from the daily rows: flows summed over the same
    days, stocks (Active …) as on the last of them; averages are left unknown. When the daily
    rows start after the base's first day, no base is known (None in the lines)."""
    found = warehouse.rows(
        sql_file("tally.reports", "queries/summary_cells.sql"),
        [country, "daily", partial.base_first, partial.base_last],
    )
    begins = warehouse.rows(
        f"SELECT MIN(start_date) FROM {TABLE} WHERE country = ? AND resolution_type = 'daily'",
        [country],
    )[0][0]
    if begins is None or _as_date(begins) > partial.base_first:
        return {}  # the daily rows start after the base's first day: no base is known
    bases: dict[str, dict[str | None, dict[tuple[str, str], float]]] = {
        metric: {} for metric in metric_types if not is_average(metric)
    }
    for metric, by_currency in _group(found).items():
        if is_average(metric):
            continue
        for currency, cells in by_currency.items():
            target = bases.setdefault(metric, {}).setdefault(currency, {})
            for key, days in cells.items():
                if is_stock(metric):
                    target[key] = days.get(partial.base_last, 0.0)
                else:
                    target[key] = sum(days.values())
    return bases


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _fill(
    section: Section,
    cells: Cells,
    periods: list[dt.date],
    first: dt.date | None,
    partial: Partial | None,
    base: dict[tuple[str, str], float] | None,
) -> None:
    """Platform, plan and total lines; None before ``first``, the metric's first period."""

    def known(start: dt.date) -> bool:
        return first is not None and start >= first

    def values(sums: dict[dt.date, float]) -> tuple[float | None, ...]:
        return tuple(sums.get(d, 0.0) if known(d) else None for d in periods)

    def base_of(keys: list[tuple[str, str]]) -> float | None:
        return None if base is None else sum(base.get(key, 0.0) for key in keys)

    is_partial = partial is not None
    platforms = sorted({p for p, _ in cells}, key=_platform_key)
    for platform in platforms:
        keys = sorted(k for k in cells if k[0] == platform)
        totals: dict[dt.date, float] = defaultdict(float)
        for key in keys:
            for start, value in cells[key].items():
                totals[start] += value
        section.lines.append(Line(platform, None, values(totals), base_of(keys), is_partial))
        section.lines += [
            Line(platform, key[1], values(cells[key]), base_of([key]), is_partial) for key in keys
        ]
    grand: dict[dt.date, float] = defaultdict(float)
    for sums in cells.values():
        for start, value in sums.items():
            grand[start] += value
    section.lines.append(Line(None, None, values(grand), base_of(list(cells)), is_partial))


def _platform_key(platform: str) -> tuple[int, str]:
    known = PLATFORM_ORDER.index(platform) if platform in PLATFORM_ORDER else len(PLATFORM_ORDER)
    return (known, platform)
