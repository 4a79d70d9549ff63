"""Aggregates over a small window, each worked out by hand."""

from __future__ import annotations

import math

import pytest

from tally.errors import ConfigError
from tally.stream.aggregates import Accumulator, check_aggregate, merge, percentile


def filled() -> Accumulator:
    accumulator = Accumulator(keep_samples=True, keep_distinct=True)
    for value in (4.0, 1.0, 3.0, 2.0, 10.0, 1.0):
        accumulator.add(value, distinct=value)
    return accumulator


def test_simple_aggregates() -> None:
    window = filled()
    assert window.result("count") == 6
    assert window.result("sum") == 21  # 4+1+3+2+10+1
    assert window.result("min") == 1
    assert window.result("max") == 10
    assert window.result("mean") == 3.5  # 21 / 6
    assert window.result("distinct") == 5  # 1, 2, 3, 4, 10


def test_percentiles_interpolate_between_ranks() -> None:
    # sorted: 1 1 2 3 4 10; p50 sits at position 2.5 -> 2 + 0.5 * (3 - 2) = 2.5
    assert filled().result("p50") == 2.5
    # p90 at position 4.5 -> 4 + 0.5 * (10 - 4) = 7
    assert filled().result("p90") == 7.0
    assert percentile([5.0], 99) == 5.0


def test_empty_window_gives_nan_except_count() -> None:
    empty = Accumulator()
    assert empty.result("count") == 0
    assert math.isnan(empty.result("mean"))


def test_merge_and_round_trip() -> None:
    left, right = Accumulator(), Accumulator()
    left.add(1.0)
    right.add(5.0)
    merged = Accumulator.load(merge(left, right).dump())
    assert (merged.result("count"), merged.result("min"), merged.result("max")) == (2, 1, 5)


def test_unknown_aggregate_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="median"):
        check_aggregate("median")
