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


def test_campaign_source_medium_and_tracking_parameters() -> None:
    found = classify("https://shop.example/?utm_campaign=a&utm_source=news&utm_medium=email", None)
    assert (found.campaign_source, found.campaign_medium) == ("news", "email")
    # campaign parameters sent as tracking parameters (an image tracker) win over the URL's
    # (plugins/Referrers/Columns/Base.php, detectReferrerCampaignFromTrackerParams)
    tracked = classify(
        "https://shop.example/?pk_campaign=summer", None, SITE, {"pk_campaign": "Spring"}
    )
    assert (tracked.campaign_name, tracked.campaign_keyword) == ("spring", None)
    # utm_source names a campaign when utm_campaign is absent (config/global.ini.php)
    assert classify("https://shop.example/?utm_source=news", None, SITE).campaign_name == "news"


def test_matomo_js_attribution_parameters_do_not_make_a_campaign() -> None:
    # matomo.js sends its attribution cookie as _rcn/_rck on every request; Matomo credits
    # only goal conversions with it (Base.php, getValueForRecordGoal), not the visit.
    later = classify("https://shop.example/p2", "https://shop.example/", SITE, {})
    assert later.type == "direct"


@pytest.mark.parametrize(
    ("url", "urlref", "expected"),
    [
        # keyword order of global.ini.php: piwik_kwd before utm_term
        (
            "http://example.org/?utm_campaign=GA&piwik_kwd=Piwik kwd&utm_term=no",
            None,
            ("ga", "piwik kwd", "piwik kwd"),
        ),
        # no keyword: the search keyword of the referrer URL
        (
            "http://example.org/?utm_campaign=GA+Campaign",
            "http://bing.com/search?q=whatever",
            ("ga campaign", "whatever", "whatever"),
        ),
        # no keyword at all: the referrer's host, as the visit's keyword only
        (
            "http://example.org/?utm_campaign=GA+Campaign",
            "http://thing1.com/a/b/c.html?a=b",
            ("ga campaign", "thing1.com", None),
        ),
        ("http://example.org/?utm_campaign=GA+Campaign", None, ("ga campaign", None, None)),
        # the query gave no keyword: the fragment's campaign counts
        (
            "http://example.org/?pk_campaign=A#pk_campaign=B&pk_kwd=K",
            None,
            ("b", "k", "k"),
        ),
        # an AdWords referrer: the publisher's host, and a name when the URL has none
        (
            "http://example.org/?utm_campaign=Adwords campaign",
            "http://googleads.g.doubleclick.net/pagead/ads?client=x&url=http%3A%2F%2Fwww.pub.org%2F",
            ("adwords campaign", "(adwords) www.pub.org", "(adwords) www.pub.org"),
        ),
        (
            "http://example.org/",
            "http://googleads.g.doubleclick.net/pagead/ads?url=http%3A%2F%2Fex.com%2F&ad_type=text",
            ("adwords (text)", "(adwords) ex.com", "(adwords) ex.com"),
        ),
    ],
)
def test_campaign_keyword_rules_of_matomo(url: str, urlref: str | None, expected: tuple) -> None:
    """Base.php, detectReferrerCampaign and detectCampaignKeywordFromReferrerUrl."""
    found = classify(url, urlref, SITE)
    assert found.type == "campaign"
    assert (found.name, found.keyword, found.campaign_keyword) == expected


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


def test_the_referrer_a_conversion_is_credited_with() -> None:
    """Base.php, getValueForRecordGoal: _rcn (and _rck) name a campaign; else _ref counts
    when it is a search engine, website or social network; else the visit's (None)."""
    from tally.web.referrers import attribution

    campaign = attribution({"_rcn": "Gifted Search", "_ref": "http://x.example/"}, SITE)
    assert campaign is not None
    assert (campaign.type, campaign.name, campaign.keyword) == ("campaign", "gifted search", None)
    keyed = attribution({"_rcn": "Drive", "_rck": "Am I?"}, SITE)
    assert keyed is not None and keyed.keyword == "am i?"
    website = attribution({"_ref": "http://sentinelwatch.org/page"}, SITE)
    assert website is not None and (website.type, website.name) == ("website", "sentinelwatch.org")
    assert attribution({"_ref": "https://shop.example/cart"}, SITE) is None  # the site itself
    assert attribution({}, SITE) is None


@pytest.mark.parametrize(
    ("url", "urlref", "expected"),
    [
        # Matomo names a website by its host as sent, lower-case, with "www." (Base.php
        # getReferrerInformation: mb_strtolower of the host; Matomo's expected
        # test_FlattenReports__Referrers.getWebsites_day.xml has label1 www.referrer1.com)
        ("https://shop.example/", "https://WWW.Blog.example.org/post", "www.blog.example.org"),
        ("https://shop.example/", "https://blog.example.org/post", "blog.example.org"),
        # two hosts, two rows: www.a.org and a.org are different websites to Matomo
        ("https://shop.example/", "http://a.org/", "a.org"),
        ("https://shop.example/", "http://www.a.org/", "www.a.org"),
    ],
)
def test_a_website_is_named_by_its_host_with_www(url: str, urlref: str, expected: str) -> None:
    found = classify(url, urlref, SITE)
    assert (found.type, found.name) == ("website", expected)


@pytest.mark.parametrize(
    "urlref",
    [
        # the page's own host, www. or not: Matomo adds the tracked URL's host to the site's
        # URLs (plugins/SitesManager/SiteUrls.php addRequestUrlToSiteUrls) -> direct entry
        "http://staging.shop.example/cart",
        "http://www.staging.shop.example/cart",
    ],
)
def test_a_referrer_on_the_pages_own_host_is_direct_entry(urlref: str) -> None:
    # staging.shop.example is none of SITE's URLs, but it is the page's host
    found = classify("http://staging.shop.example/checkout", urlref, SITE)
    assert found.type == "direct"
    # from another page host it stays a website (named as sent)
    other = classify("http://shop.example/checkout", urlref, SITE)
    assert (other.type, other.name) == ("website", urlref.split("/")[2])
