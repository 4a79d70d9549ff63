"""UsersFlow.getUsersFlow on the Flow site of ``reporting_flow_site`` (read its docstring for
the visits W0-W4), on both backends, counted by hand.

Page views of 10 March, in order (the site search is not a page view):
  W1 /index, /shows, /shows, /shows, /signup/done    W2 /shows, /watch/1
  W3 /shows, /index                                   W4 /shows
"""

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


def pages(step: dict) -> list[tuple[object, ...]]:
    return [
        (r["label"], r["nb_visits"], r["nb_proceeded"], r["nb_exits"],
         [(n["label"], n["nb_visits"]) for n in r["subtable"]])
        for r in step["subtable"]
    ]  # fmt: skip


def test_every_page_of_each_step_without_a_limit(site: Warehouse) -> None:
    flow = call(site, "UsersFlow.getUsersFlow", DAY)
    # step 1: all 4 visits; W4 left. Step 2: W1, W2, W3; W2 and W3 left. Steps 3-5: W1 only.
    assert [(s["label"], s["nb_visits"], s["nb_proceeded"], s["nb_exits"]) for s in flow] == [
        ("1", 4, 3, 1),
        ("2", 3, 1, 2),
        ("3", 1, 1, 0),
        ("4", 1, 1, 0),
        ("5", 1, 0, 1),
    ]
    # step 1: /shows opened W2 (then /watch/1), W3 (then /index) and W4 (left);
    # /index opened W1 (then /shows)
    assert pages(flow[0]) == [
        ("/shows", 3, 2, 1, [("/index", 1), ("/watch/1", 1)]),
        ("/index", 1, 1, 0, [("/shows", 1)]),
    ]
    # step 2: W3 left from /index, W2 from /watch/1; W1 reloaded /shows
    assert pages(flow[1]) == [
        ("/index", 1, 0, 1, []),
        ("/shows", 1, 1, 0, [("/shows", 1)]),
        ("/watch/1", 1, 0, 1, []),
    ]
    # step 3: W1 on /shows again, on to /shows (after its search)
    assert pages(flow[2]) == [("/shows", 1, 1, 0, [("/shows", 1)])]
    assert pages(flow[4]) == [("/signup/done", 1, 0, 1, [])]


def test_others_only_when_a_limit_is_given(site: Warehouse) -> None:
    flow = call(site, "UsersFlow.getUsersFlow", {**DAY, "limitActionsPerStep": "1"})
    # step 1 keeps /shows (3 visits); /index (W1) becomes Others. Step 2 keeps /index (the
    # first of three pages with 1 visit, by name), so /shows and /watch/1 are Others there,
    # and so are the next pages that point at them.
    assert pages(flow[0]) == [
        ("/shows", 3, 2, 1, [("/index", 1), ("Others", 1)]),
        ("Others", 1, 1, 0, [("Others", 1)]),
    ]
    assert pages(flow[1]) == [
        ("/index", 1, 0, 1, []),
        ("Others", 2, 1, 1, [("/shows", 1)]),
    ]
    # the step totals do not change with grouping
    assert [s["nb_visits"] for s in flow] == [4, 3, 1, 1, 1]
    # a segment narrows the flow: Google's visit W3 only
    search = call(site, "UsersFlow.getUsersFlow", {**DAY, "segment": "referrerType==search"})
    assert [pages(step) for step in search] == [
        [("/shows", 1, 1, 0, [("/index", 1)])],
        [("/index", 1, 0, 1, [])],
    ]
    with pytest.raises(BadInputError, match="limitActionsPerStep"):
        call(site, "UsersFlow.getUsersFlow", {**DAY, "limitActionsPerStep": "0"})


def test_a_day_without_page_views_has_no_steps(site: Warehouse) -> None:
    # 11 March has no visits, and no visit of the 10th came from a campaign: both are empty
    # (on PostgreSQL an empty result's columns have no type, which the building must allow)
    assert call(site, "UsersFlow.getUsersFlow", {**DAY, "date": "2026-03-11"}) == []
    campaign = {**DAY, "segment": "referrerType==campaign"}
    assert call(site, "UsersFlow.getUsersFlow", campaign) == []
