"""VisitorInterest's four reports on the Flow site of ``reporting_flow_site`` (read its
docstring for the visits W0-W4), on both backends, counted by hand."""

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


def counted(method: str, site: Warehouse, params: dict[str, str] = DAY) -> list[tuple]:
    """The ranges holding visits; every range is listed, the empty ones with 0."""
    return [(r["label"], r["nb_visits"]) for r in call(site, method, params) if r["nb_visits"]]


def test_visits_per_duration_lists_every_range(site: Warehouse) -> None:
    rows = call(site, "VisitorInterest.getNumberOfVisitsPerVisitDuration", DAY)
    assert [r["label"] for r in rows] == [
        "0\u201310s", "11\u201330s", "31\u201360s", "1-2 min", "2-4 min", "4-7 min", "7-10 min",
        "10-15 min", "15-30 min", "30+ min",
    ]  # fmt: skip
    # W4 0 s; W2 300 s and W1 420 s (4-7 min is 241-420 s); W3 660 s
    assert counted("VisitorInterest.getNumberOfVisitsPerVisitDuration", site) == [
        ("0\u201310s", 1),
        ("4-7 min", 2),
        ("10-15 min", 1),
    ]


def test_visits_per_number_of_actions(site: Warehouse) -> None:
    # W4 1 action, W3 3, W2 4, W1 6 (5 pages and a search: the 6-7 range)
    assert counted("VisitorInterest.getNumberOfVisitsPerPage", site) == [
        ("1 page", 1),
        ("3 pages", 1),
        ("4 pages", 1),
        ("6-7 pages", 1),
    ]


def test_returning_visitors_by_visit_count_and_days_since_last(site: Warehouse) -> None:
    # W1 (P) and W2 (Q) are first visits; W3 is R's second (after W0 on the 7th), W4 P's
    assert counted("VisitorInterest.getNumberOfVisitsByVisitCount", site) == [
        ("1 visit", 2),
        ("2 visits", 2),
    ]
    # W1 and W2 are new (Matomo's first row); W4 came 6 h 53 min after W1 ended (0 whole
    # days); W3 exactly 3 days after W0's hit
    assert counted("VisitorInterest.getNumberOfVisitsByDaysSinceLast", site) == [
        ("New visits", 2),
        ("0 days", 1),
        ("3 days", 1),
    ]
    # on the 7th, W0 is R's first visit: new, nothing returning
    first = {**DAY, "date": "2026-03-07"}
    assert counted("VisitorInterest.getNumberOfVisitsByDaysSinceLast", site, first) == [
        ("New visits", 1)
    ]
    assert counted("VisitorInterest.getNumberOfVisitsByVisitCount", site, first) == [("1 visit", 1)]
    # the segment visitCount selects by the same number: W3 and W4 are second visits
    second = {**DAY, "segment": "visitCount>=2"}
    assert counted("VisitorInterest.getNumberOfVisitsByVisitCount", site, second) == [
        ("2 visits", 2)
    ]
