"""Durations as written in settings and rules."""

from __future__ import annotations

import pytest

from tally.stream.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("5m", 300), ("1h30m", 5400), ("2d", 172800), ("250ms", 0.25), ("90", 90)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match="e.g. 30"):
        parse_duration("10 parsecs")
