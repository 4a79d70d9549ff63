"""Where a visit came from: campaign, search engine (with keyword), social network, another
website, or direct, in that order of precedence (as Matomo reports it).

The lists of search engines and social networks are short and written here on purpose:
the maintained lists (Matomo's searchengine-and-social-list) are YAML in a PHP project and
no maintained Python package ships them; the major engines and networks cover the reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

# (host pattern, engine name, query parameters that carry the keyword)
SEARCH_ENGINES: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = tuple(
    (re.compile(pattern), name, params)
    for pattern, name, params in (
        (r"(^|\.)google(\.[a-z]{2,3}){1,2}$", "Google", ("q",)),
        (r"(^|\.)bing\.com$", "Bing", ("q",)),
        (r"(^|\.)duckduckgo\.com$", "DuckDuckGo", ("q",)),
        (r"(^|\.)search\.yahoo\.(com|co\.jp)$|^([a-z]{2}\.)?search\.yahoo\.com$", "Yahoo!", ("p",)),
        (r"(^|\.)yandex(\.[a-z]{2,3}){1,2}$", "Yandex", ("text",)),
        (r"(^|\.)baidu\.com$", "Baidu", ("wd", "word")),
        (r"(^|\.)ecosia\.org$", "Ecosia", ("q",)),
        (r"(^|\.)naver\.com$", "Naver", ("query",)),
        (r"(^|\.)qwant\.com$", "Qwant", ("q",)),
        (r"^search\.brave\.com$", "Brave", ("q",)),
    )
)

SOCIAL_NETWORKS = {
    "facebook.com": "Facebook",
    "fb.me": "Facebook",
    "instagram.com": "Instagram",
    "twitter.com": "Twitter",
    "t.co": "Twitter",
    "x.com": "X",
    "linkedin.com": "LinkedIn",
    "lnkd.in": "LinkedIn",
    "reddit.com": "Reddit",
    "youtube.com": "YouTube",
    "pinterest.com": "Pinterest",
    "tiktok.com": "TikTok",
    "threads.net": "Threads",
    "weibo.com": "Sina Weibo",
    "line.me": "LINE",
    "whatsapp.com": "WhatsApp",
}

# Campaign parameters of Matomo (mtm_, pk_, piwik_, matomo_) and Google Analytics (utm_):
# Matomo's defaults (config/global.ini.php, campaign_var_name and campaign_keyword_var_name;
# utm_source and utm_medium name a campaign when utm_campaign is absent), plus mtm_cpn.
CAMPAIGN_NAME = (
    "mtm_campaign",
    "mtm_cpn",
    "matomo_campaign",
    "pk_campaign",
    "pk_cpn",
    "piwik_campaign",
    "utm_campaign",
    "utm_source",
    "utm_medium",
)
CAMPAIGN_KEYWORD = (
    "mtm_keyword",
    "mtm_kwd",
    "matomo_kwd",
    "pk_keyword",
    "pk_kwd",
    "piwik_kwd",
    "utm_term",
)
# Removed from every tracked URL (core/Tracker/PageUrl.php, getQueryParametersToExclude):
# the campaign name and keyword parameters and a few session/click ids, so a campaign
# landing page is one page in the reports, not one per campaign link.
EXCLUDED_URL_PARAMS = frozenset(
    (
        *CAMPAIGN_NAME,
        *CAMPAIGN_KEYWORD,
        "gclid",
        "fb_xd_fragment",
        "fb_comment_id",
        "phpsessid",
        "jsessionid",
        "sessionid",
        "aspsessionid",
        "doing_wp_cron",
    )
)
CAMPAIGN_SOURCE = ("mtm_source", "pk_source", "utm_source")
CAMPAIGN_MEDIUM = ("mtm_medium", "pk_medium", "utm_medium")


@dataclass(frozen=True)
class Referrer:
    type: str  # direct, website, search, social, campaign
    name: str | None = None
    keyword: str | None = None
    campaign_name: str | None = None
    campaign_keyword: str | None = None
    campaign_source: str | None = None
    campaign_medium: str | None = None


def classify(
    url: str | None,
    urlref: str | None,
    site_hosts: Iterable[str] = (),
    remembered: Mapping[str, str] | None = None,
) -> Referrer:
    """Classify a hit's referrer; ``remembered`` holds matomo.js's ``_rcn``/``_rck``.

    As in Matomo (plugins/Referrers/Columns/Base.php, detectReferrerCampaign), the
    remembered campaign comes first and the landing URL's parameters second.
    """
    campaign = _remembered(remembered or {})
    # Every campaign-name parameter holds "campaign", "cpn" or "utm_": most URLs skip parsing.
    lowered = (url or "").lower()
    landing = None
    if "campaign" in lowered or "cpn" in lowered or "utm_" in lowered:
        landing = _campaign(_url_params(url))
    if campaign is not None and campaign.keyword is None and landing is not None:
        # matomo.js sends _rck only for the keyword parameters it knows (not pk_keyword or
        # mtm_keyword); the landing URL's own keyword for the same campaign is kept.
        if landing.name == campaign.name:
            return landing
    if campaign is not None:
        return campaign
    if landing is not None:
        return landing
    host = _host(urlref)
    if not host or _is_own(host, site_hosts):
        return Referrer("direct")
    for pattern, name, params in SEARCH_ENGINES:
        if pattern.search(host):
            query = _url_params(urlref)
            keyword = next((query[p] for p in params if query.get(p)), None)
            return Referrer("search", name, keyword)
    social = _social(host)
    if social:
        return Referrer("social", social)
    return Referrer("website", host.removeprefix("www."))


def _remembered(params: Mapping[str, str]) -> Referrer | None:
    return _campaign(params, ("_rcn",), ("_rck",))


def _campaign(
    params: Mapping[str, str],
    names: tuple[str, ...] = CAMPAIGN_NAME,
    keywords: tuple[str, ...] = CAMPAIGN_KEYWORD,
) -> Referrer | None:
    name = _first(params, names)
    if not name:
        return None
    # Matomo lowercases campaign names and keywords so "Spring" and "spring" are one.
    keyword = _first(params, keywords)
    return Referrer(
        "campaign",
        name.lower(),
        keyword.lower() if keyword else None,
        campaign_name=name.lower(),
        campaign_keyword=keyword.lower() if keyword else None,
        campaign_source=_first(params, CAMPAIGN_SOURCE),
        campaign_medium=_first(params, CAMPAIGN_MEDIUM),
    )


def _first(params: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((params[n].strip() for n in names if params.get(n, "").strip()), None)


def _url_params(url: str | None) -> dict[str, str]:
    """Query and fragment parameters of a URL (campaign links may use either)."""
    if not url:
        return {}
    try:
        parts = urlsplit(url)
    except ValueError:
        return {}
    found = dict(parse_qsl(parts.fragment)) if "=" in parts.fragment else {}
    found.update(parse_qsl(parts.query))
    return {key.lower(): value for key, value in found.items()}


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return (urlsplit(url).hostname or "").lower() or None
    except ValueError:
        return None


def _is_own(host: str, site_hosts: Iterable[str]) -> bool:
    bare = host.removeprefix("www.")
    return any(bare == own.removeprefix("www.") for own in site_hosts)


def _social(host: str) -> str | None:
    bare = host.removeprefix("www.").removeprefix("m.")
    for domain, name in SOCIAL_NETWORKS.items():
        if bare == domain or bare.endswith("." + domain):
            return name
    return None


def hosts_of(urls: Iterable[str]) -> set[str]:
    """Host names of a site's URLs (its own pages are not referrers)."""
    return {host for host in (_host(url) for url in urls) if host}


def without_excluded_params(url: str | None) -> str | None:
    """``url`` without Matomo's excluded query parameters (EXCLUDED_URL_PARAMS), in the
    query or, when there is no query, in the fragment (as core/Tracker/PageUrl.php)."""
    if not url or ("?" not in url and "#" not in url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.query:
        kept = _kept_params(parts.query)
        return url if kept is None else urlunsplit(parts._replace(query=kept))
    if parts.fragment and "=" in parts.fragment:
        kept = _kept_params(parts.fragment)
        return url if kept is None else urlunsplit(parts._replace(fragment=kept))
    return url


def _kept_params(text: str) -> str | None:
    """``text`` (a query string) without excluded parameters; None when nothing is excluded."""
    pairs = text.split("&")
    kept = [
        pair for pair in pairs if unquote(pair.split("=", 1)[0]).lower() not in EXCLUDED_URL_PARAMS
    ]
    return None if len(kept) == len(pairs) else "&".join(kept)
