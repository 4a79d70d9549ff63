"""The Summary's numbers, worked out by hand from the fixture (HK, weekly, 3 weeks)."""

from __future__ import annotations

import datetime as dt

import pytest

from tally.reports.summary import build_summary

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
    active = summary.section("Active subscriber").total
    assert active.change == -17 and active.change_ratio == pytest.approx(175 / 192 - 1)
    assert summary.section("Revenue").total.values == (0, 0, 960.5)
    assert summary.section("Revenue").money
    # A platform with no rows in the previous period: change ratio is 0, not a division error.
    assert summary.section("Revenue").lines[0].change_ratio == 0
