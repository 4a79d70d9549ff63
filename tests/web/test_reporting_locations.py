"""UserCountry.getCity on the Flow site of ``reporting_flow_site`` (read its docstring for
the visits W0-W4), on both backends."""

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


def test_visits_by_city(site: Warehouse) -> None:
    rows = call(site, "UserCountry.getCity", DAY)
    # Hong Kong: W1 and W4 (P: 7 actions, 420 s, W4 bounced); Kowloon: W3; Singapore: W2
    assert [
        (r["label"], r["city_name"], r["country"], r["nb_visits"], r["nb_actions"]) for r in rows
    ] == [
        ("Hong Kong, HK", "Hong Kong", "hk", 2, 7),
        ("Kowloon, HK", "Kowloon", "hk", 1, 3),
        ("Singapore, SG", "Singapore", "sg", 1, 4),
    ]
    assert (rows[0]["sum_visit_length"], rows[0]["bounce_count"]) == (420, 1)
    assert (rows[2]["lat"], rows[2]["long"]) == (1.29, 103.85)
    # over 7-10 March Kowloon adds W0: R's two visits, one visitor
    span = call(
        site, "UserCountry.getCity", {**DAY, "period": "range", "date": "2026-03-07,2026-03-10"}
    )
    kowloon = next(r for r in span if r["city_name"] == "Kowloon")
    assert (kowloon["nb_visits"], kowloon["nb_uniq_visitors"]) == (2, 1)
