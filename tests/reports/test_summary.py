"""The Summary's numbers, worked out by hand from the fixture (HK, weekly, 3 weeks)."""

from __future__ import annotations

import datetime as dt

import pytest

from tally.reports.fact import TABLE, freshness
from tally.reports.summary import build_summary, partial_period

WEEKS = [dt.date(2017, 1, 9), dt.date(2017, 1, 16), dt.date(2017, 1, 23)]
TYPES = ["Revenue", "Churn", "New subscriber", "Active subscriber"]


def lines(section) -> list[tuple]:
    return [(line.platform, line.plan, line.values) for line in section.lines]


def test_hk_weekly_sections(loaded) -> None:
    summary = build_summary(
        loaded, "HK", "Hong Kong", "weekly", dt.date(2017, 1, 25), TYPES, None, 3
    )
    assert summary.periods == WEEKS
    assert [s.metric for s in summary.sections] == [
        "Active subscriber",
        "New subscriber",
        "Churn",
        "Revenue",
    ]
    # Active, week of 1/9: iOS P1 = 100 paying + 20 trial, P2 = 50, Redemption 10.
    # 1/16: P1 110 + 25, P2 45, Redemption 12. 1/23: P1 120, P2 40, Redemption 15.
    # SG's 70 and every daily row stay out.
    assert lines(summary.section("Active subscriber")) == [
        ("iOS IAP", None, (170, 180, 160)),
        ("iOS IAP", "P1", (120, 135, 120)),
        ("iOS IAP", "P2", (50, 45, 40)),
        ("Redemption", None, (10, 12, 15)),
        ("Redemption", "Samsung Galaxy Tablet Promotion", (10, 12, 15)),
        (None, None, (180, 192, 175)),
    ]
    # Churn: nothing on 1/9; 1/16 P2 6 + Redemption 1; 1/23 P1 trial 25 + P2 5.
    churn = summary.section("Churn")
    assert churn.total.values == (0, 7, 30)
    assert churn.total.change == 23
    assert churn.total.change_ratio == pytest.approx(30 / 7 - 1)
    assert churn.total.values[0] == 0  # HK's weekly data starts on 1/9: a real 0, not blank
    active = summary.section("Active subscriber").total
    assert active.change == -17 and active.change_ratio == pytest.approx(175 / 192 - 1)
    assert summary.section("Revenue").total.values == (0, 0, 960.5)
    assert summary.section("Revenue").money
    # A base of 0 (no revenue the week before): Change % is empty, not 0 % or an error.
    assert summary.section("Revenue").lines[0].change_ratio is None
    assert summary.partial is None  # fresh_until not given: nothing is known to be partial


def test_partial_month_is_compared_with_the_same_days(duckdb_warehouse, partial_rows) -> None:
    duckdb_warehouse.replace_partition(TABLE, partial_rows, {})
    newest = freshness(duckdb_warehouse, "SG")
    assert newest == dt.date(2017, 1, 3)  # the newest loaded day, not the month's start
    summary = build_summary(
        duckdb_warehouse,
        "SG",
        "Singapore",
        "monthly",
        dt.date(2017, 1, 3),
        ["New subscriber", "Active subscriber", "Revenue"],
        newest,
        4,
    )
    partial = summary.partial
    assert (partial.days, partial.base_first, partial.base_last) == (
        3,
        dt.date(2016, 12, 1),
        dt.date(2016, 12, 3),
    )
    new = summary.section("New subscriber").total
    # October is before the data starts (November): blank, not 0.
    assert new.values == (None, 50, 109, 7)
    # January 1-3 (7) against December 1-3 (2 + 3 + 4 = 9), not against all December (109).
    assert new.same_days == 9 and new.change == -2
    assert new.change_ratio == pytest.approx(7 / 9 - 1)
    # A stock compares with its value on the same day: 45 on Jan 3 against 40 on Dec 3.
    active = summary.section("Active subscriber").total
    assert (active.same_days, active.change) == (40, 5)
    # One Revenue section per currency; no December revenue: base 0, Change % empty.
    assert [s.title for s in summary.sections if s.metric == "Revenue"] == [
        "Revenue (SGD)",
        "Revenue (USD)",
    ]
    sgd = summary.section("Revenue", "SGD").total
    assert sgd.values == (None, 0, 0, 10.5) and sgd.same_days == 0
    assert sgd.change == 10.5 and sgd.change_ratio is None


def test_a_complete_period_is_not_partial() -> None:
    assert partial_period("monthly", dt.date(2017, 1, 1), dt.date(2017, 1, 31)) is None
    assert partial_period("weekly", dt.date(2017, 1, 23), dt.date(2017, 1, 29)) is None
    assert partial_period("daily", dt.date(2017, 1, 23), dt.date(2017, 1, 23)) is None
    # A 31-day month on day 30 of 31: compared with November 1-30, all of November.
    december = partial_period("monthly", dt.date(2016, 12, 1), dt.date(2016, 12, 30))
    assert (december.days, december.base_last) == (30, dt.date(2016, 11, 30))
