"""Matomo's ``period`` and ``date`` parameters, resolved to local-date spans of a site.

``period`` is day, week (Monday–Sunday), month, year or range; ``date`` is ``YYYY-MM-DD``,
``today``, ``yesterday``, ``lastN``, ``previousN`` or ``D1,D2``. "Today" is the site's day in
its own time zone, so a Hong Kong site's "yesterday" at 01:00 HKT is the HKT calendar day
before. web.visits and web.actions carry that local date, so a span needs no time zone math.

Like Matomo, ``lastN``, ``previousN`` and ``D1,D2`` with a period other than range ask for
several periods (the answer is keyed by each period's label); with ``range`` they make one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tally.errors import BadInputError

PERIODS = ("day", "week", "month", "year", "range")
MOST_PERIODS = 5000  # guards against date=last99999999 building millions of spans
_RELATIVE = re.compile(r"^(last|previous)(\d+)$")


@dataclass(frozen=True)
class Span:
    """One period: local dates ``start`` to ``end``, both included."""

    period: str
    start: dt.date
    end: dt.date

    @property
    def label(self) -> str:
        """The key Matomo gives this period in a multi-period answer."""
        if self.period == "day":
            return self.start.isoformat()
        if self.period == "month":
            return self.start.strftime("%Y-%m")
        if self.period == "year":
            return str(self.start.year)
        return f"{self.start.isoformat()},{self.end.isoformat()}"


@dataclass(frozen=True)
class Periods:
    """What a ``period``/``date`` pair asks for: one span, or several keyed by label."""

    spans: list[Span]
    multiple: bool


def utc_now() -> dt.datetime:
    """The clock every default date reads (one function, so a test can set the time)."""
    return dt.datetime.now(dt.UTC)


def site_today(timezone: str, now: dt.datetime | None = None) -> dt.date:
    """The calendar date in ``timezone`` at ``now`` (an aware instant; default: now)."""
    instant = now or utc_now()
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(ZoneInfo(timezone)).date()


def resolve(period: str, date: str, timezone: str, now: dt.datetime | None = None) -> Periods:
    """The spans ``period`` and ``date`` name for a site in ``timezone``."""
    if period not in PERIODS:
        raise BadInputError(f"period must be one of {', '.join(PERIODS)}", field="period")
    today = site_today(timezone, now)
    text = (date or "").strip().lower()
    relative = _RELATIVE.match(text)
    if period == "range":
        return Periods([_range(text, relative, today)], multiple=False)
    if relative:
        count = _count(relative.group(2))
        anchor = today if relative.group(1) == "last" else _shift(period, today, -1)
        last = containing(period, anchor)
        spans = [_shift_span(last, offset) for offset in range(1 - count, 1)]
        return Periods(spans, multiple=True)
    if "," in text:
        first, final = _pair(text, today)
        spans = []
        span = containing(period, first)
        while span.start <= final:
            spans.append(span)
            if len(spans) > MOST_PERIODS:
                raise BadInputError(f"more than {MOST_PERIODS} periods asked", field="date")
            span = _shift_span(span, 1)
        return Periods(spans, multiple=True)
    return Periods([containing(period, _single(text, today))], multiple=False)


def containing(period: str, day: dt.date) -> Span:
    """The day, ISO week, calendar month or year that holds ``day``."""
    if period == "day":
        return Span("day", day, day)
    if period == "week":
        monday = day - dt.timedelta(days=day.weekday())
        return Span("week", monday, monday + dt.timedelta(days=6))
    if period == "month":
        first = day.replace(day=1)
        return Span("month", first, _add_months(first, 1) - dt.timedelta(days=1))
    if period == "year":
        return Span("year", dt.date(day.year, 1, 1), dt.date(day.year, 12, 31))
    raise BadInputError(f"no single {period!r} holds a day", field="period")


def _range(text: str, relative: re.Match[str] | None, today: dt.date) -> Span:
    if relative:
        count = _count(relative.group(2))
        end = today if relative.group(1) == "last" else today - dt.timedelta(days=1)
        return Span("range", end - dt.timedelta(days=count - 1), end)
    if "," in text:
        start, end = _pair(text, today)
        return Span("range", start, end)
    day = _single(text, today)
    return Span("range", day, day)


def _pair(text: str, today: dt.date) -> tuple[dt.date, dt.date]:
    first, _, second = text.partition(",")
    start, end = _single(first, today), _single(second, today)
    if end < start:
        raise BadInputError(f"date range {text!r} ends before it starts", field="date")
    return start, end


def _single(text: str, today: dt.date) -> dt.date:
    text = text.strip()
    if text in ("today", "now"):
        return today
    if text == "yesterday":
        return today - dt.timedelta(days=1)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadInputError(
            f"date {text!r} is not YYYY-MM-DD, today, yesterday, lastN, previousN or D1,D2",
            field="date",
        ) from None


def _count(digits: str) -> int:
    count = int(digits)
    if not 1 <= count <= MOST_PERIODS:
        raise BadInputError(f"lastN/previousN needs 1 <= N <= {MOST_PERIODS}", field="date")
    return count


def _shift(period: str, day: dt.date, steps: int) -> dt.date:
    """``day`` moved by whole periods."""
    if period == "day":
        return day + dt.timedelta(days=steps)
    if period == "week":
        return day + dt.timedelta(weeks=steps)
    if period == "month":
        return _add_months(day.replace(day=1), steps)
    return dt.date(day.year + steps, 1, 1)


def _shift_span(span: Span, steps: int) -> Span:
    return containing(span.period, _shift(span.period, span.start, steps))


def _add_months(first: dt.date, months: int) -> dt.date:
    index = first.year * 12 + first.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)
