"""Transitions.getTransitionsForPageUrl on the Flow site of ``reporting_flow_site`` (read its
docstring for the visits W0-W4), on both backends, counted by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.web.reporting_flow_site import site_fixture

from tally.errors import BadInputError
from tally.warehouse import Warehouse
from tally.web.reporting.api import call
from tally.web.reporting.transitions import label_of

NEWS_URL = "https://news.example.org/today"  # W2's referrer URL (reporting_flow_hits.csv)
SHOWS = {
    "idSite": "1",
    "period": "day",
    "date": "2026-03-10",
    "pageUrl": "https://flow.example.com/shows",
}


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def site(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    yield from site_fixture(request)


def pairs(rows: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(row["label"], row["referrals"]) for row in rows]


def test_transitions_of_a_page_with_a_loop_a_search_and_an_exit(site: Warehouse) -> None:
    # Views of /shows on 10 March: W1 09:01, 09:02, 09:05; W2 10:00; W3 14:00; W4 16:00.
    answer = call(site, "Transitions.getTransitionsForPageUrl", SHOWS)
    # before them: /index (W1 09:01), /shows itself (09:02, the reload: a loop), the search
    # "Drama" (09:05), and nothing for W2, W3, W4, which entered there. The keyword comes
    # as typed on both sides, as Actions.getSiteSearchKeywords shows it.
    # after them: /shows (09:01, the same loop), the search (09:02), /signup/done (09:05),
    # /watch/1 (W2), /index (W3) and nothing for W4, which left: 1 exit.
    assert answer["pageMetrics"] == {"pageviews": 6, "entries": 3, "exits": 1, "loops": 1}
    assert pairs(answer["previousPages"]) == [("/index", 1)]
    assert pairs(answer["previousSiteSearches"]) == [("Drama", 1)]
    assert pairs(answer["followingPages"]) == [("/index", 1), ("/signup/done", 1), ("/watch/1", 1)]
    assert pairs(answer["followingSiteSearches"]) == [("Drama", 1)]
    # clicked on /shows: W2's outlink (10:02) and W3's download (14:10)
    assert pairs(answer["outlinks"]) == [("https://www.imdb.com/title/tt1", 1)]
    assert pairs(answer["downloads"]) == [("https://cdn.example.com/guide.pdf", 1)]
    # the three entries by the visit's referrer, in Matomo's order and words: W4 direct, W3
    # Google, W2 from a website, named by its referrer URL (plugins/Transitions/API.php)
    assert [
        (r["label"], r["shortName"], r["visits"], pairs(r["details"])) for r in answer["referrers"]
    ] == [
        ("Direct entries", "direct", 1, []),
        ("From search engines", "search", 1, [("Google", 1)]),
        ("From websites", "website", 1, [(NEWS_URL, 1)]),
    ]
    assert answer["date"] == "Tue, Mar 10"  # Matomo's short name of the day


def test_any_url_of_the_page_matches_and_segments_narrow(site: Warehouse) -> None:
    # /index: W1 09:00 (entry, direct; then /shows) and W3 14:11 (after /shows; the exit)
    home = call(
        site,
        "Transitions.getTransitionsForPageUrl",
        {**SHOWS, "pageUrl": "http://flow.example.com/#top"},
    )
    assert home["pageMetrics"] == {"pageviews": 2, "entries": 1, "exits": 1, "loops": 0}
    assert pairs(home["previousPages"]) == pairs(home["followingPages"]) == [("/shows", 1)]
    # only the direct visits (W1, W4): 4 views of /shows, W4's is the entry and the exit
    direct = call(
        site, "Transitions.getTransitionsForPageUrl", {**SHOWS, "segment": "referrerType==direct"}
    )
    assert direct["pageMetrics"] == {"pageviews": 4, "entries": 1, "exits": 1, "loops": 1}
    assert direct["outlinks"] == [] and direct["downloads"] == []
    with pytest.raises(BadInputError, match="pageUrl"):
        call(site, "Transitions.getTransitionsForPageUrl", {**SHOWS, "pageUrl": ""})


def test_labels_fold_like_the_page_report() -> None:
    assert label_of("https://flow.example.com/") == "/index"
    assert label_of("http://m.flow.example.com/watch/1#t=5") == "/watch/1"
    assert label_of("/shows?genre=drama") == "/shows?genre=drama"


def test_limit_before_grouping_folds_the_rest_into_others(site: Warehouse) -> None:
    # /shows' three following pages have one referral each (see the first test); with
    # limitBeforeGrouping=2 the first two (by referrals, then label) stay and the third is
    # "Others" (Matomo's RankingQuery); the lists shorter than the limit are untouched
    folded = call(
        site, "Transitions.getTransitionsForPageUrl", {**SHOWS, "limitBeforeGrouping": "2"}
    )
    assert pairs(folded["followingPages"]) == [("/index", 1), ("/signup/done", 1), ("Others", 1)]
    assert pairs(folded["previousPages"]) == [("/index", 1)]
    with pytest.raises(BadInputError, match="integer"):
        call(site, "Transitions.getTransitionsForPageUrl", {**SHOWS, "limitBeforeGrouping": "x"})
