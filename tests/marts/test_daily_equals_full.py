"""Daily == full as a property, part 1 of 4: 50 random histories per backend, its own
hypothesis search (tests/marts/daily_property.py has the histories and the check)."""

from pathlib import Path

import pytest

from tally.pipeline.context import Context

from .daily_property import (
    CHANNELS,
    EXAMPLES,
    HISTORIES,
    PARTS,
    RESTATED,
    Story,
    check_day_by_day,
    day_by_day_property,
)
from .daily_property import context as context  # the fixture the test takes

test_day_by_day_equals_the_full_build = day_by_day_property()


def test_the_parts_check_200_histories_per_backend() -> None:
    parts = sorted(Path(__file__).parent.glob("test_daily_equals_full*.py"))
    assert len(parts) == PARTS  # each part runs EXAMPLES examples of HISTORIES histories
    assert PARTS * EXAMPLES * HISTORIES >= 200


@pytest.mark.parametrize("what", RESTATED)
def test_a_period_the_status_export_alone_restates_moves_the_daily_marts(
    context: Context, what: str
) -> None:
    # One redemption (no billed row: the status export alone describes its period, days 2
    # to 20, known from day 2, so in the first full build at day 4); from day 6 the export
    # shows it with another plan or country (PREMIUM_M -> PREMIUM_HD_M, HK -> SG). Day 6's
    # build then has that one change: the period's plan or country, in place, with no
    # transaction of its own, on the daily build's fast path (the extension: the day's
    # snapshot row against the stored latest period). The random histories rarely isolate
    # it: fifty share a warehouse, and other changes move the marts from earlier days.
    story = Story(
        channel=CHANNELS[0],
        periods=[(2, 20, "paid", "PREMIUM_M", "HK", 2)],
        exported=True,
        billed=False,
        restated=(6, what),
    )
    check_day_by_day(context, [[(story, [])]])
    # and the period is as the latest snapshot has it (docs/metrics.md, "Duplicates and
    # revisions"): before, the two snapshots tied on expiry and the first in the alphabet won
    found = context.warehouse.rows("SELECT plan_code, country FROM marts.subscription_periods")
    assert found == [("PREMIUM_HD_M", "HK") if what == "plan" else ("PREMIUM_M", "SG")]
