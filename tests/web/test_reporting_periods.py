"""period/date parsing: Monday-Sunday weeks, months, years, ranges, lastN and previousN,
with "today" taken in the site's time zone, across daylight-saving changes."""

from __future__ import annotations

import datetime as dt

import pytest

from tally.errors import BadInputError
from tally.web.reporting.periods import Span, resolve, site_today

D = dt.date
UTC = dt.UTC


def spans(period: str, date: str, timezone: str = "UTC", now: dt.datetime | None = None):
    return [(s.start, s.end) for s in resolve(period, date, timezone, now).spans]


def test_a_single_day_week_month_and_year() -> None:
    assert spans("day", "2026-03-02") == [(D(2026, 3, 2), D(2026, 3, 2))]
    # 8 March 2026 is a Sunday: its week starts on Monday 2 March
    assert spans("week", "2026-03-08") == [(D(2026, 3, 2), D(2026, 3, 8))]
    assert spans("week", "2026-03-09") == [(D(2026, 3, 9), D(2026, 3, 15))]
    assert spans("month", "2028-02-10") == [(D(2028, 2, 1), D(2028, 2, 29))]  # leap year
    assert spans("year", "2026-07-01") == [(D(2026, 1, 1), D(2026, 12, 31))]
    assert not resolve("month", "2026-03-02", "UTC").multiple


def test_labels_are_matomos_keys() -> None:
    assert Span("day", D(2026, 3, 2), D(2026, 3, 2)).label == "2026-03-02"
    assert Span("week", D(2026, 3, 2), D(2026, 3, 8)).label == "2026-03-02,2026-03-08"
    assert Span("month", D(2026, 3, 1), D(2026, 3, 31)).label == "2026-03"
    assert Span("year", D(2026, 1, 1), D(2026, 12, 31)).label == "2026"


def test_today_and_yesterday_are_the_sites_days() -> None:
    # 20:00 UTC on 1 March is 04:00 on 2 March in Hong Kong (UTC+8)
    now = dt.datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    assert site_today("Asia/Hong_Kong", now) == D(2026, 3, 2)
    assert spans("day", "today", "Asia/Hong_Kong", now) == [(D(2026, 3, 2), D(2026, 3, 2))]
    assert spans("day", "yesterday", "Asia/Hong_Kong", now) == [(D(2026, 3, 1), D(2026, 3, 1))]
    assert spans("day", "today", "UTC", now) == [(D(2026, 3, 1), D(2026, 3, 1))]


def test_today_across_a_daylight_saving_change() -> None:
    # New York moved to EDT (UTC-4) on Sunday 8 March 2026 at 02:00. At 04:30 UTC on the 9th
    # it is 00:30 on the 9th there; a fixed UTC-5 (EST) would still say 23:30 on the 8th.
    assert site_today("America/New_York", dt.datetime(2026, 3, 9, 3, 30, tzinfo=UTC)) == D(
        2026, 3, 8
    )
    assert site_today("America/New_York", dt.datetime(2026, 3, 9, 4, 30, tzinfo=UTC)) == D(
        2026, 3, 9
    )
    # London went to BST (UTC+1) on 29 March 2026: 23:30 UTC that day is 00:30 on the 30th,
    # a Monday, so "this week" is already the next one.
    now = dt.datetime(2026, 3, 29, 23, 30, tzinfo=UTC)
    assert spans("week", "today", "Europe/London", now) == [(D(2026, 3, 30), D(2026, 4, 5))]
    assert spans("range", "last7", "Europe/London", now) == [(D(2026, 3, 24), D(2026, 3, 30))]


def test_last_and_previous_n() -> None:
    now = dt.datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
    # lastN includes the current period; previousN ends with the one before it
    assert spans("day", "last3", now=now) == [
        (D(2026, 3, 2), D(2026, 3, 2)),
        (D(2026, 3, 3), D(2026, 3, 3)),
        (D(2026, 3, 4), D(2026, 3, 4)),
    ]
    assert spans("day", "previous2", now=now) == [
        (D(2026, 3, 2), D(2026, 3, 2)),
        (D(2026, 3, 3), D(2026, 3, 3)),
    ]
    assert spans("week", "last2", now=now) == [
        (D(2026, 2, 23), D(2026, 3, 1)),
        (D(2026, 3, 2), D(2026, 3, 8)),
    ]
    assert spans("month", "previous2", now=now) == [
        (D(2026, 1, 1), D(2026, 1, 31)),
        (D(2026, 2, 1), D(2026, 2, 28)),
    ]
    assert spans("year", "last1", now=now) == [(D(2026, 1, 1), D(2026, 12, 31))]
    assert resolve("day", "last3", "UTC", now).multiple
    # With period=range they make one span instead
    assert spans("range", "last7", now=now) == [(D(2026, 2, 26), D(2026, 3, 4))]
    assert spans("range", "previous7", now=now) == [(D(2026, 2, 25), D(2026, 3, 3))]
    assert not resolve("range", "last7", "UTC", now).multiple


def test_two_dates() -> None:
    assert spans("range", "2026-02-27,2026-03-02") == [(D(2026, 2, 27), D(2026, 3, 2))]
    # with a period, every period that touches the range
    assert spans("week", "2026-03-01,2026-03-10") == [
        (D(2026, 2, 23), D(2026, 3, 1)),
        (D(2026, 3, 2), D(2026, 3, 8)),
        (D(2026, 3, 9), D(2026, 3, 15)),
    ]
    assert spans("month", "2025-12-31,2026-01-01") == [
        (D(2025, 12, 1), D(2025, 12, 31)),
        (D(2026, 1, 1), D(2026, 1, 31)),
    ]
    now = dt.datetime(2026, 3, 4, tzinfo=UTC)
    assert spans("range", "2026-03-01,today", now=now) == [(D(2026, 3, 1), D(2026, 3, 4))]


@pytest.mark.parametrize(
    ("period", "date", "message"),
    [
        ("hour", "today", "period must be one of"),
        ("day", "tomorrow-ish", "is not YYYY-MM-DD"),
        ("range", "2026-03-05,2026-03-01", "ends before it starts"),
        ("day", "last0", "1 <= N"),
        ("day", "last999999", "1 <= N"),
        ("day", "2000-01-01,2026-01-01", "more than"),
    ],
)
def test_bad_periods_name_the_field(period: str, date: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message) as caught:
        resolve(period, date, "UTC")
    assert caught.value.field in ("period", "date")
