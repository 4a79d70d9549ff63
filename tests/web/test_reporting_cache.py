"""The report cache against the hand-made site of ``reporting_site`` (V1-V4 on Monday
2 March 2026, V5 on Tuesday 3 March, Hong Kong), on DuckDB and on PostgreSQL: a cached
answer must always equal the answer computed without the cache. The test that loads a late
hit runs last: the others read the site as loaded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.web.reporting_site import BACKENDS, hong_kong, loaded_site

from tally.warehouse import Warehouse
from tally.web.reporting.api import call
from tally.web.reporting.cache import ReportCache
from tally.web.sessions import sessionize

MONDAY = {"idSite": "1", "period": "day", "date": "2026-03-02"}
TUESDAY = {**MONDAY, "date": "2026-03-03"}


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    yield from loaded_site(request.param, tmp_path_factory)


def _late_hit(warehouse: Warehouse, clock: str) -> None:
    """A page view of a new visitor E on Monday, loaded after that day was sessionized."""
    warehouse.execute(
        "INSERT INTO web.hits (hit_id, idsite, received_at, hit_time, visitor_id, kind, url, "
        "new_visit, is_bot, referrer_type, transport, raw_query) "
        "VALUES (?, 1, ?, ?, 'e', 'pageview', 'https://watch.example.com/plans', "
        "FALSE, FALSE, 'direct', 'get', 'idsite=1&rec=1')",
        [f"seg-0002:{clock}", hong_kong("2026-03-03", "12:00"), hong_kong("2026-03-02", clock)],
    )


def test_the_newest_day_is_never_kept(site: Warehouse) -> None:
    cache = ReportCache()
    # Tuesday holds the newest hit: still open, so every call computes it.
    for _ in range(2):
        assert call(site, "VisitsSummary.get", TUESDAY, cache=cache)["nb_visits"] == 1  # V5
    assert (cache.stored, cache.hits) == (0, 0)


def test_cached_rows_are_copies_and_filters_apply_after(site: Warehouse) -> None:
    cache = ReportCache()
    pages = call(site, "Actions.getPageUrls", MONDAY, cache=cache)
    pages[0]["label"] = "changed by the caller"
    again = call(site, "Actions.getPageUrls", MONDAY, cache=cache)
    assert again == call(site, "Actions.getPageUrls", MONDAY)
    # filter_limit is not part of the key: the kept report is cut for this call only.
    one = call(site, "Actions.getPageUrls", {**MONDAY, "filter_limit": "1"}, cache=cache)
    assert len(one) == 1 and one[0] == again[0]
    assert (cache.stored, cache.hits) == (1, 2)


def test_a_late_hit_for_a_closed_day_changes_the_cached_answer(site: Warehouse) -> None:
    cache = ReportCache()
    # The newest hit is Tuesday's, so Monday is closed: its answer is kept, then reused.
    first = call(site, "VisitsSummary.get", MONDAY, cache=cache)
    assert first["nb_visits"] == 4  # V1-V4
    assert call(site, "VisitsSummary.get", MONDAY, cache=cache) == first
    assert (cache.stored, cache.hits) == (1, 1)
    # Loaded but not sessionized: the warehouse's own answer is still 4, and the kept one
    # (still valid: no day changed version) is used again.
    _late_hit(site, "16:00")
    assert call(site, "VisitsSummary.get", MONDAY) == first
    assert call(site, "VisitsSummary.get", MONDAY, cache=cache) == first
    assert (cache.stored, cache.hits) == (1, 2)
    # Sessionize rebuilds Monday with a new version: the kept answer is stale and recomputed
    # (E is a fifth visit of one bouncing page view).
    sessionize(site)
    after = call(site, "VisitsSummary.get", MONDAY, cache=cache)
    assert after == call(site, "VisitsSummary.get", MONDAY)
    assert (after["nb_visits"], after["bounce_count"]) == (5, 3)
    assert (cache.stored, cache.hits) == (2, 2)
