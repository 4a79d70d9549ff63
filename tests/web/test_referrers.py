"""Referrer classification: campaign before search before social before website."""

from __future__ import annotations

import pytest

from tally.web.referrers import classify, hosts_of

SITE = hosts_of(["https://shop.example", "https://www.shop.example/store"])


@pytest.mark.parametrize(
    ("url", "urlref", "expected"),
    [
        ("https://shop.example/", None, ("direct", None, None)),
        ("https://shop.example/", "https://www.shop.example/cart", ("direct", None, None)),
        (
            "https://shop.example/",
            "https://www.google.com.hk/search?q=drama+box",
            ("search", "Google", "drama box"),
        ),
        (
            "https://shop.example/",
            "https://duckduckgo.com/?q=tally",
            ("search", "DuckDuckGo", "tally"),
        ),
        (
            "https://shop.example/",
            "https://www.baidu.com/s?wd=%E5%89%A7",
            ("search", "Baidu", "剧"),
        ),
        ("https://shop.example/", "https://m.facebook.com/story", ("social", "Facebook", None)),
        ("https://shop.example/", "https://t.co/abc", ("social", "Twitter", None)),
        (
            "https://shop.example/",
            "https://blog.example.org/post",
            ("website", "blog.example.org", None),
        ),
        # A campaign wins even over a search engine referrer; names are lower-cased.
        (
            "https://shop.example/?mtm_campaign=Spring&mtm_kwd=Promo",
            "https://www.google.com/search?q=x",
            ("campaign", "spring", "promo"),
        ),
        (
            "https://shop.example/?utm_campaign=Launch&utm_term=tv",
            None,
            ("campaign", "launch", "tv"),
        ),
        ("https://shop.example/?pk_campaign=Mail", None, ("campaign", "mail", None)),
        ("https://shop.example/#pk_cpn=Fragment", None, ("campaign", "fragment", None)),
    ],
)
def test_classify(url: str, urlref: str | None, expected: tuple) -> None:
    found = classify(url, urlref, SITE)
    assert (found.type, found.name, found.keyword) == expected


def test_campaign_source_medium_and_the_remembered_campaign() -> None:
    found = classify("https://shop.example/?utm_campaign=a&utm_source=news&utm_medium=email", None)
    assert (found.campaign_source, found.campaign_medium) == ("news", "email")
    # matomo.js sends a campaign it remembered from an earlier page as _rcn/_rck.
    remembered = classify("https://shop.example/p2", None, SITE, {"_rcn": "Spring", "_rck": "K"})
    assert (remembered.type, remembered.campaign_name, remembered.campaign_keyword) == (
        "campaign",
        "spring",
        "k",
    )
