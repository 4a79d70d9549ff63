"""Actions.getSiteSearchKeywords on the Flow site of ``reporting_flow_site`` (read its
docstring for the visits W0-W4), on both backends."""

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


def test_search_keywords(site: Warehouse) -> None:
    # one search, "Drama" (kept as typed, as Matomo does), by W1 at 09:04; its time on page
    # runs to W1's next page view at 09:05
    assert call(site, "Actions.getSiteSearchKeywords", DAY) == [
        {
            "label": "Drama",
            "nb_visits": 1,
            "nb_hits": 1,
            "sum_time_spent": 60,
            "avg_time_on_page": 60,
            "segment": "siteSearchKeyword==Drama",
        }
    ]
    # the visits from Google (W3) searched nothing; 7 March had no search either
    segment = {**DAY, "segment": "referrerType==search"}
    assert call(site, "Actions.getSiteSearchKeywords", segment) == []
    assert call(site, "Actions.getSiteSearchKeywords", {**DAY, "date": "2026-03-07"}) == []
