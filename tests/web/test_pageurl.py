"""Site search read from page URLs, by Matomo's rules (ActionSiteSearch.php)."""

from __future__ import annotations

import pytest

from tally.web.pageurl import search_in_url
from tally.web.sites import SEARCH_KEYWORD_PARAMETERS

DEFAULTS = SEARCH_KEYWORD_PARAMETERS


@pytest.mark.parametrize(
    ("url", "categories", "expected"),
    [
        # Matomo's OneVisitorTwoVisits system test: the keyword parameter leaves the URL
        (
            "http://example.org/index.htm?q=Banks Own The World",
            ["notparam"],
            ("Banks Own The World", None, None, "http://example.org/index.htm"),
        ),
        # parameter names without case; other parameters stay; category and count
        (
            "https://shop.example/find?Page=2&SEARCH=red+shoes&cat=Shoes&search_count=12",
            ["cat"],
            ("red shoes", "Shoes", 12, "https://shop.example/find?Page=2&search_count=12"),
        ),
        # the first keyword parameter of the list with a value wins (q before s)
        (
            "https://shop.example/?s=second&q=first",
            [],
            ("first", None, None, "https://shop.example/?s=second"),
        ),
        # in a fragment, after its own "?"
        (
            "https://app.example/#/find?k=tv&x=1",
            [],
            ("tv", None, None, "https://app.example/#/find?x=1"),
        ),
    ],
)
def test_a_keyword_parameter_makes_a_site_search(
    url: str, categories: list[str], expected: tuple
) -> None:
    found = search_in_url(url, DEFAULTS, categories)
    assert found is not None
    assert (found.keyword, found.category, found.count, found.url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/p",
        "https://shop.example/p?q=",
        "https://shop.example/p?q=%20",
        "https://shop.example/p?page=2",
    ],
)
def test_no_keyword_no_site_search(url: str) -> None:
    assert search_in_url(url, DEFAULTS, []) is None


def test_the_site_names_its_own_keyword_parameters() -> None:
    assert search_in_url("https://shop.example/?q=x", ["term"], []) is None
    found = search_in_url("https://shop.example/?term=x", ["term"], [])
    assert found is not None and found.keyword == "x"
