"""Goals.get and Goals.getConversions on the Flow site of ``reporting_flow_site`` (read its
docstring: goal 1 "Signup" worth 10, goal 2 "Play" without revenue), on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.web.reporting_flow_site import site_fixture

from tally.errors import NotFoundError
from tally.warehouse import Warehouse
from tally.web.reporting.api import call

DAY = {"idSite": "1", "period": "day", "date": "2026-03-10"}


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def site(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    yield from site_fixture(request)


def test_goals_overview_of_a_day(site: Warehouse) -> None:
    assert call(site, "Goals.get", DAY) == {
        "nb_conversions": 2,  # W1 converted Signup (/signup/done), W2 Play (its event)
        "nb_visits_converted": 2,  # two different visits
        "revenue": 10,  # Signup's 10; Play has no revenue
        "conversion_rate": "50%",  # 2 converted visits of the day's 4 (W1-W4)
        "nb_visits": 4,
    }
    # over 7-10 March W0 joins the visits: 2 converted of 5
    span = {**DAY, "period": "range", "date": "2026-03-07,2026-03-10"}
    assert call(site, "Goals.get", span)["conversion_rate"] == "40%"
    # a day without visits converts nothing, at a rate of 0% (not a division by zero)
    empty = call(site, "Goals.get", {**DAY, "date": "2026-03-09"})
    assert (empty["nb_conversions"], empty["conversion_rate"]) == (0, "0%")
    # 7 March: W0 alone, a bounce that converted nothing, still counts as the day's visit
    quiet = call(site, "Goals.get", {**DAY, "date": "2026-03-07"})
    assert (quiet["nb_visits"], quiet["nb_conversions"], quiet["conversion_rate"]) == (1, 0, "0%")


def test_one_goal_and_conversions_per_goal(site: Warehouse) -> None:
    signup = call(site, "Goals.get", {**DAY, "idGoal": "1"})
    # one conversion (W1) worth 10, in 1 of the 4 visits
    assert signup == {
        "nb_conversions": 1,
        "nb_visits_converted": 1,
        "revenue": 10,
        "conversion_rate": "25%",
        "nb_visits": 4,
    }
    rows = call(site, "Goals.getConversions", DAY)
    assert [
        (r["label"], r["idgoal"], r["nb_conversions"], r["revenue"], r["conversion_rate"])
        for r in rows
    ] == [("Signup", 1, 1, 10, "25%"), ("Play", 2, 1, 0, "25%")]
    # on 7 March (W0 only) nobody converted: both goals are listed with zeros
    quiet = call(site, "Goals.getConversions", {**DAY, "date": "2026-03-07"})
    assert [(r["label"], r["nb_conversions"]) for r in quiet] == [("Signup", 0), ("Play", 0)]
    with pytest.raises(NotFoundError, match="no goal 9"):
        call(site, "Goals.get", {**DAY, "idGoal": "9"})
