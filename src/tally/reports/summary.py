"""The Summary sheet's content: metric sections with platforms and plans down, periods across.

The numbers come from the warehouse with one grouped query; the workbook writes them as the
cached results of formulas over the data sheets, so both must agree (a test recalculates
with LibreOffice to check).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from tally.reports.fact import MONEY_TYPES, TABLE, last_periods, order_types
from tally.warehouse import Warehouse

PLATFORM_ORDER = ("iOS IAP", "Android IAP", "Telco", "Redemption", "Web")
DEFAULT_PERIOD_COUNT = {"daily": 14, "weekly": 13, "monthly": 12}


@dataclass(frozen=True)
class Line:
    """One row of a section: a platform (``plan`` None), a plan, or the total (both None)."""

    platform: str | None
    plan: str | None
    values: tuple[float, ...]

    @property
    def change(self) -> float:
        return self.values[-1] - self.values[-2] if len(self.values) > 1 else 0.0

    @property
    def change_ratio(self) -> float:
        """Last period over the one before, minus one; 0 when the one before is 0."""
        if len(self.values) < 2 or self.values[-2] == 0:
            return 0.0
        return self.values[-1] / self.values[-2] - 1


@dataclass
class Section:
    metric: str
    lines: list[Line] = field(default_factory=list)

    @property
    def money(self) -> bool:
        return self.metric in MONEY_TYPES

    @property
    def total(self) -> Line:
        return self.lines[-1]


@dataclass
class Summary:
    country: str
    country_name: str
    period: str
    day: dt.date
    periods: list[dt.date]
    sections: list[Section]
    fresh_until: dt.date | None

    def section(self, metric: str) -> Section | None:
        return next((s for s in self.sections if s.metric == metric), None)


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
        f"SELECT type, platform, meta_1, start_date, SUM(value) FROM {TABLE} "
        "WHERE country = ? AND resolution_type = ? AND start_date >= ? AND start_date <= ? "
        "GROUP BY type, platform, meta_1, start_date",
        [country, period, periods[0], periods[-1]],
    )
    sums: dict[str, dict[tuple[str, str], dict[dt.date, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for metric, platform, plan, start, total in found:
        sums[metric][(platform or "", plan or "")][_as_date(start)] = float(total)
    sections = [
        _section(metric, sums.get(metric, {}), periods) for metric in order_types(metric_types)
    ]
    return Summary(country, country_name, period, day, periods, sections, fresh_until)


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _section(
    metric: str, cells: dict[tuple[str, str], dict[dt.date, float]], periods: list[dt.date]
) -> Section:
    section = Section(metric)
    platforms = sorted({p for p, _ in cells}, key=_platform_key)
    for platform in platforms:
        plans = sorted(plan for p, plan in cells if p == platform)
        per_plan = {plan: [cells[(platform, plan)].get(d, 0.0) for d in periods] for plan in plans}
        totals = [sum(values[i] for values in per_plan.values()) for i in range(len(periods))]
        section.lines.append(Line(platform, None, tuple(totals)))
        section.lines += [Line(platform, plan, tuple(per_plan[plan])) for plan in plans]
    grand = [
        sum(line.values[i] for line in section.lines if line.plan is None)
        for i in range(len(periods))
    ]
    section.lines.append(Line(None, None, tuple(grand)))
    return section


def _platform_key(platform: str) -> tuple[int, str]:
    known = PLATFORM_ORDER.index(platform) if platform in PLATFORM_ORDER else len(PLATFORM_ORDER)
    return (known, platform)
