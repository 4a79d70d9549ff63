"""Periods and header names of the report table."""

from __future__ import annotations

import datetime as dt

import pytest

from tally.errors import ConfigError
from tally.reports.fact import column_for, last_periods, order_types, period_start


def test_period_starts() -> None:
    wednesday = dt.date(2017, 1, 25)
    assert period_start(wednesday, "daily") == wednesday
    assert period_start(wednesday, "weekly") == dt.date(2017, 1, 23)  # ISO Monday
    assert period_start(wednesday, "monthly") == dt.date(2017, 1, 1)
    with pytest.raises(ConfigError):
        period_start(wednesday, "yearly")


def test_last_periods_cross_year_and_month_lengths() -> None:
    assert last_periods(dt.date(2017, 1, 25), "monthly", 3) == [
        dt.date(2016, 11, 1),
        dt.date(2016, 12, 1),
        dt.date(2017, 1, 1),
    ]
    assert last_periods(dt.date(2017, 1, 2), "weekly", 2) == [
        dt.date(2016, 12, 26),
        dt.date(2017, 1, 2),
    ]
    assert last_periods(dt.date(2016, 3, 1), "daily", 2) == [
        dt.date(2016, 2, 29),
        dt.date(2016, 3, 1),
    ]


def test_headers_map_to_columns() -> None:
    assert column_for("Meta 1") == "meta_1"
    assert column_for("resolution  TYPE") == "resolution_type"
    assert column_for("Start_Date") == "start_date"
    assert column_for("Meta 9") is None


def test_known_types_first_then_sorted() -> None:
    assert order_types(["Zeta", "Churn", "Active subscriber", "Alpha"]) == [
        "Active subscriber",
        "Churn",
        "Alpha",
        "Zeta",
    ]
