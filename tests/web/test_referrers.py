"""Referrer classification: campaign before search before social before website."""

from __future__ import annotations

import pytest

from tally.web.referrers import classify, hosts_of, without_excluded_params

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


def test_the_remembered_campaign_comes_first_and_keeps_the_landing_keyword() -> None:
    # Matomo reads _rcn/_rck before the landing URL (plugins/Referrers/Columns/Base.php).
    other = classify("https://shop.example/?pk_campaign=summer", None, SITE, {"_rcn": "spring"})
    assert (other.campaign_name, other.campaign_keyword) == ("spring", None)
    # matomo.js has no _rck for pk_keyword: the URL's keyword of the same campaign stays.
    landing = classify(
        "https://shop.example/?pk_campaign=Spring&pk_keyword=TV", None, SITE, {"_rcn": "Spring"}
    )
    assert (landing.campaign_name, landing.campaign_keyword) == ("spring", "tv")
    # utm_source names a campaign when utm_campaign is absent (config/global.ini.php)
    assert classify("https://shop.example/?utm_source=news", None, SITE).campaign_name == "news"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # campaign name and keyword parameters leave the page URL (core/Tracker/PageUrl.php)
        ("https://shop.example/p?pk_campaign=x&pk_kwd=y", "https://shop.example/p"),
        ("https://shop.example/p?a=1&mtm_campaign=x&b=2", "https://shop.example/p?a=1&b=2"),
        ("https://shop.example/p?utm_campaign=x&utm_term=y&id=3", "https://shop.example/p?id=3"),
        ("https://shop.example/p?GCLID=abc&PHPSESSID=1", "https://shop.example/p"),
        # with no query, the fragment's parameters
        ("https://shop.example/p#pk_campaign=x&tab=2", "https://shop.example/p#tab=2"),
        # nothing to remove: unchanged
        ("https://shop.example/p?q=shoes#top", "https://shop.example/p?q=shoes#top"),
        ("https://shop.example/p", "https://shop.example/p"),
    ],
)
def test_excluded_parameters_leave_the_url(url: str, expected: str) -> None:
    assert without_excluded_params(url) == expected
