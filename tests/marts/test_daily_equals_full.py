"""Daily == full as a property, part 1 of 4: 50 random histories per backend, its own
hypothesis search (tests/marts/daily_property.py has the histories and the check)."""

from pathlib import Path

from .daily_property import EXAMPLES, HISTORIES, PARTS, day_by_day_property
from .daily_property import context as context  # the fixture the test takes

test_day_by_day_equals_the_full_build = day_by_day_property()


def test_the_parts_check_200_histories_per_backend() -> None:
    parts = sorted(Path(__file__).parent.glob("test_daily_equals_full*.py"))
    assert len(parts) == PARTS  # each part runs EXAMPLES examples of HISTORIES histories
    assert PARTS * EXAMPLES * HISTORIES >= 200
