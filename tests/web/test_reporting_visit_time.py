"""VisitTime by hour, on the site's clock and on the visitor's, on the Flow site of
``reporting_flow_site`` (read its docstring for the visits W0-W4), on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.web.reporting_flow_site import site_fixture

from tally.warehouse import Warehouse
from tally.web.reporting.api import call

DAY = {"idSite": "1", "period": "day", "date": "2026-03-10"}


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def site(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    yield from site_fixture(request)


def busy(rows: list[dict]) -> list[tuple]:
    return [
        (r["label"], r["nb_visits"], r["nb_actions"], r["sum_visit_length"])
        for r in rows
        if r["nb_visits"]
    ]


def test_visits_by_hour_on_the_sites_clock(site: Warehouse) -> None:
    rows = call(site, "VisitTime.getVisitInformationPerServerTime", DAY)
    assert [r["label"] for r in rows] == [f"{hour:02d}" for hour in range(24)]
    # Hong Kong time: W1 09:00 (6 actions, 420 s), W2 10:00 (4, 300 s), W3 14:00 (3, 660 s),
    # W4 16:00 (1, 0 s: a bounce)
    assert busy(rows) == [
        ("09", 1, 6, 420),
        ("10", 1, 4, 300),
        ("14", 1, 3, 660),
        ("16", 1, 1, 0),
    ]
    assert rows[16]["bounce_count"] == 1


def test_visits_by_hour_on_the_visitors_clock(site: Warehouse) -> None:
    # the tracker's local hours: W2's visitor was at 2 o'clock; the others match Hong Kong
    rows = call(site, "VisitTime.getVisitInformationPerLocalTime", DAY)
    assert busy(rows) == [
        ("02", 1, 4, 300),
        ("09", 1, 6, 420),
        ("14", 1, 3, 660),
        ("16", 1, 1, 0),
    ]
