"""Custom variables and custom dimensions on the Flow site of ``reporting_flow_site`` (read
its docstring for the visits W0-W4), on both backends.

10 March: plan=premium on W1 and W4 (one hit each), plan=free on W2; dimension 1 is gold on
W1 and W4, silver on W3."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.web.reporting_flow_site import site_fixture

from tally.errors import BadInputError
from tally.warehouse import Warehouse
from tally.web.reporting.api import call

DAY = {"idSite": "1", "period": "day", "date": "2026-03-10"}


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def site(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    yield from site_fixture(request)


def test_custom_variables_by_name_then_value(site: Warehouse) -> None:
    rows = call(site, "CustomVariables.getCustomVariables", DAY)
    assert [(r["label"], r["nb_visits"], r["nb_actions"]) for r in rows] == [("plan", 3, 3)]
    assert rows[0]["subtable"] == [
        {"label": "premium", "nb_visits": 2, "nb_actions": 2},
        {"label": "free", "nb_visits": 1, "nb_actions": 1},
    ]
    # a segment keeps the variable of its visits only: the smartphones W1, W2, W4 all have
    # one, the desktop W3 none
    desktop = call(
        site, "CustomVariables.getCustomVariables", {**DAY, "segment": "deviceType==desktop"}
    )
    assert desktop == []


def test_custom_dimension_values(site: Warehouse) -> None:
    rows = call(site, "CustomDimensions.getCustomDimension", {**DAY, "idDimension": "1"})
    assert rows == [
        {"label": "gold", "nb_visits": 2, "nb_hits": 2},
        {"label": "silver", "nb_visits": 1, "nb_hits": 1},
    ]
    assert call(site, "CustomDimensions.getCustomDimension", {**DAY, "idDimension": "2"}) == []
    with pytest.raises(BadInputError, match="idDimension"):
        call(site, "CustomDimensions.getCustomDimension", DAY)
