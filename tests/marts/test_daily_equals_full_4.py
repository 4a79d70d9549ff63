"""Daily == full as a property, part 4 of 4: 50 random histories per backend, its own
hypothesis search (tests/marts/daily_property.py has the histories and the check)."""

from .daily_property import context as context  # the fixture the test takes
from .daily_property import day_by_day_property

test_day_by_day_equals_the_full_build = day_by_day_property()
