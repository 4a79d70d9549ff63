"""Matomo's generic filters: pattern, then sort, then offset and limit."""

from __future__ import annotations

import pytest

from tally.errors import BadInputError
from tally.web.reporting.filters import apply_filters

ROWS = [
    {"label": "/index", "nb_visits": 5, "bounce_rate": "20%"},
    {"label": "/shows", "nb_visits": 3, "bounce_rate": "100%"},
    {"label": "/Watch/1", "nb_visits": 9, "bounce_rate": "5%"},
    {"label": "/watch/2", "nb_visits": 1, "bounce_rate": "0%"},
]


def labels(params: dict[str, str]) -> list[object]:
    return [row["label"] for row in apply_filters(ROWS, params)]


def test_nothing_is_cut_unless_asked() -> None:
    assert labels({}) == ["/index", "/shows", "/Watch/1", "/watch/2"]
    assert labels({"filter_limit": "-1"}) == labels({})


def test_limit_offset_and_sort() -> None:
    assert labels({"filter_limit": "2"}) == ["/index", "/shows"]
    assert labels({"filter_offset": "1", "filter_limit": "2"}) == ["/shows", "/Watch/1"]
    assert labels({"filter_sort_column": "nb_visits"}) == [
        "/Watch/1",
        "/index",
        "/shows",
        "/watch/2",
    ]
    asc = {"filter_sort_column": "nb_visits", "filter_sort_order": "asc"}
    assert labels(asc) == ["/watch/2", "/shows", "/index", "/Watch/1"]
    # rates sort by their number: 100% above 20%, not below it as text would
    assert labels({"filter_sort_column": "bounce_rate", "filter_limit": "2"}) == [
        "/shows",
        "/index",
    ]


def test_pattern_is_a_case_insensitive_regex_applied_before_the_limit() -> None:
    assert labels({"filter_pattern": "watch"}) == ["/Watch/1", "/watch/2"]
    assert labels({"filter_pattern": "^/(index|shows)$", "filter_limit": "1"}) == ["/index"]
    assert labels(
        {"filter_pattern": "watch", "filter_sort_column": "nb_visits", "filter_limit": "1"}
    ) == ["/Watch/1"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"filter_limit": "ten"}, "filter_limit"),
        ({"filter_limit": "-2"}, "filter_limit"),
        ({"filter_offset": "-1"}, "filter_offset"),
        ({"filter_pattern": "("}, "filter_pattern"),
        ({"filter_sort_column": "nb_visits", "filter_sort_order": "up"}, "filter_sort_order"),
    ],
)
def test_bad_filters_name_the_parameter(params: dict[str, str], field: str) -> None:
    with pytest.raises(BadInputError) as caught:
        apply_filters(ROWS, params)
    assert caught.value.field == field
