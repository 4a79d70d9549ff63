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

# Campaign parameters of Matomo (mtm_, pk_, piwik_, matomo_) and Google Analytics (utm_),
# in the order Matomo tries them: config/global.ini.php, campaign_var_name and
# campaign_keyword_var_name (utm_source and utm_medium name a campaign when utm_campaign is
# absent); mtm_cpn, which matomo.js also reads, last.
CAMPAIGN_NAME = (
    "pk_cpn",
    "pk_campaign",
    "piwik_campaign",
    "mtm_campaign",
    "matomo_campaign",
    "utm_campaign",
    "utm_source",
    "utm_medium",
    "mtm_cpn",
)
CAMPAIGN_KEYWORD = (
    "pk_kwd",
    "pk_keyword",
    "piwik_kwd",
    "mtm_kwd",
    "mtm_keyword",
    "matomo_kwd",
    "utm_term",
)
# Removed from every tracked URL (core/Tracker/PageUrl.php, getQueryParametersToExclude):
# ignore_referrer, the campaign name and keyword parameters and the click and session ids
# of global.ini.php's url_query_parameter_to_exclude_from_url, so a campaign landing page is
# one page in the reports, not one per campaign link. A site adds its own (excluded
# parameters, see tally.web.sites).
EXCLUDED_URL_PARAMS = frozenset(
    (
        "ignore_referrer",
        "ignore_referer",
        *CAMPAIGN_NAME,
        *CAMPAIGN_KEYWORD,
        "gclid",
        "fbclid",
        "msclkid",
        "twclid",
        "wbraid",
        "gbraid",
        "yclid",
        "fb_xd_fragment",
        "fb_comment_id",
        "phpsessid",
        "jsessionid",
        "sessionid",
        "aspsessionid",
        "doing_wp_cron",
        "sid",
        "pk_vid",
    )
)
CAMPAIGN_SOURCE = ("mtm_source", "pk_source", "utm_source")
CAMPAIGN_MEDIUM = ("mtm_medium", "pk_medium", "utm_medium")


@dataclass(frozen=True)
class Referrer:
    type: str  # direct, website, search, social, campaign
    name: str | None = None
    keyword: str | None = None  # a campaign's: Matomo's final keyword (see classify)
    campaign_name: str | None = None
    campaign_keyword: str | None = None  # a campaign's keyword as found, None when none was
    campaign_source: str | None = None
    campaign_medium: str | None = None


ADWORDS_NAME = "AdWords"  # Base.php: LABEL_ADWORDS_NAME, LABEL_PREFIX_ADWORDS_KEYWORD
ADWORDS_KEYWORD_PREFIX = "(adwords) "


def classify(
    url: str | None,
    urlref: str | None,
    site_hosts: Iterable[str] = (),
    tracker_params: Mapping[str, str] | None = None,
) -> Referrer:
    """Classify a hit's referrer as Matomo does for a visit (plugins/Referrers/Columns/
    Base.php, getReferrerInformation): a campaign first, then direct entry (a referrer on
    one of the site's hosts or on the page's own host, "www." aside), search engine, social
    network, website (named by its host, lower-case, "www." kept).

    The campaign (detectReferrerCampaign): its name and keyword from the landing URL's
    query, else its fragment; a missing keyword from the referrer URL's search keyword; an
    AdWords referrer (googleads/doubleclick with a ``url`` parameter) names its publisher's
    host as keyword, and names the campaign "AdWords (ad_type)" when the URL named none;
    campaign parameters sent as tracking parameters (``tracker_params``, e.g. by an image
    tracker) come last and win. A campaign still without keyword gets the referrer's host
    (``keyword``); ``campaign_keyword`` stays None then, so the visit rules can keep a
    running campaign visit's own keyword instead (actions.sql). matomo.js's ``_rcn``/``_rck``
    are not read here: Matomo uses them only to credit a goal conversion.
    """
    lowered = (url or "").lower()
    name = keyword = None
    landing: dict[str, str] = {}
    if "campaign" in lowered or "cpn" in lowered or "utm_" in lowered:
        name, keyword, landing = _landing_campaign(url)
    ref_host = _host(urlref)
    if name and not keyword and ref_host:
        keyword = _search_keyword(ref_host, urlref)
    if not keyword and ref_host and ("googleads" in ref_host or "doubleclick" in ref_host):
        query = _query_params(urlref)
        publisher = _host(query.get("url", "").strip())
        if publisher:
            if not name:
                ad_type = query.get("ad_type", "").strip()
                name = ADWORDS_NAME + (f" ({ad_type})" if ad_type else "")
            keyword = ADWORDS_KEYWORD_PREFIX + publisher
    tracked = _campaign_params(tracker_params or {})
    if tracked[0]:
        name, landing = tracked[0], dict(tracker_params or {})
        keyword = tracked[1] or keyword
    if name:
        found = keyword.lower() if keyword else None
        final = found or ref_host or None
        return Referrer(
            "campaign",
            name.lower(),
            final,
            campaign_name=name.lower(),
            campaign_keyword=found,
            campaign_source=_first(landing, CAMPAIGN_SOURCE),
            campaign_medium=_first(landing, CAMPAIGN_MEDIUM),
        )
    host = ref_host
    if not host or _is_own(host, site_hosts) or _is_own(host, (_host(url) or "",)):
        # the page's own host counts as one of the site's (plugins/SitesManager/SiteUrls.php,
        # addRequestUrlToSiteUrls): moving between its pages is no referrer
        return Referrer("direct")
    engine = _search_engine(host)
    if engine is not None:
        return Referrer("search", engine, _search_keyword(host, urlref))
    social = _social(host)
    if social:
        return Referrer("social", social)
    # the host as the browser sent it, lower-case, "www." kept (Base.php,
    # getReferrerInformation: the name is mb_strtolower of the referrer's host)
    return Referrer("website", host)


def attribution(remembered: Mapping[str, str], site_hosts: Iterable[str] = ()) -> Referrer | None:
    """The referrer a goal conversion on a request is credited with when the request names
    one (Base.php, getValueForRecordGoal): matomo.js's ``_rcn`` (and ``_rck``) as a
    campaign; else the ``_ref`` URL when it is a search engine, website or social network.
    None: the conversion takes the visit's referrer. (When the visit came from a campaign
    and the request has no ``_rcn``, the visit's campaign wins over ``_ref``: the report
    applies that rule, knowing the visit.)"""
    name = remembered.get("_rcn", "").strip()
    if name:
        keyword = remembered.get("_rck", "").strip().lower() or None
        return Referrer("campaign", name.lower(), keyword, name.lower(), keyword)
    ref = remembered.get("_ref", "").strip()
    if ref:
        found = classify(None, ref, site_hosts)
        if found.type in ("search", "website", "social"):
            return found
    return None


def _landing_campaign(url: str | None) -> tuple[str | None, str | None, dict[str, str]]:
    """(name, keyword, params) of the landing URL: the query's, and when the query gave no
    keyword, the fragment's over it (Base.php, detectReferrerCampaignFromLandingUrl)."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return None, None, {}
    query = _lowered(parse_qsl(parts.query))
    name, keyword = _campaign_params(query)
    if keyword or "=" not in parts.fragment:
        return name, keyword, query
    fragment = _lowered(parse_qsl(parts.fragment))
    fragment_name, fragment_keyword = _campaign_params(fragment)
    if fragment_name:
        return fragment_name, fragment_keyword, fragment
    return name, keyword, query


def _campaign_params(params: Mapping[str, str]) -> tuple[str | None, str | None]:
    name = _first(params, CAMPAIGN_NAME)
    return (name, _first(params, CAMPAIGN_KEYWORD)) if name else (None, None)


def _lowered(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in pairs:
        found.setdefault(key.lower(), value)
    return found


def _search_engine(host: str) -> str | None:
    return next((name for pattern, name, _ in SEARCH_ENGINES if pattern.search(host)), None)


def _search_keyword(host: str, urlref: str | None) -> str | None:
    """The search keyword of a search engine's referrer URL, if it is one."""
    for pattern, _name, params in SEARCH_ENGINES:
        if pattern.search(host):
            query = _url_params(urlref)
            return next((query[p] for p in params if query.get(p)), None)
    return None


def _query_params(url: str | None) -> dict[str, str]:
    try:
        return _lowered(parse_qsl(urlsplit(url or "").query))
    except ValueError:
        return {}


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


def without_excluded_params(url: str | None, also: frozenset[str] = frozenset()) -> str | None:
    """``url`` without Matomo's excluded query parameters (EXCLUDED_URL_PARAMS, and the
    site's own, ``also``, lower-case), in the query or, when there is no query, in the
    fragment (as core/Tracker/PageUrl.php, excludeQueryParametersFromUrl)."""
    if not url or ("?" not in url and "#" not in url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    excluded = EXCLUDED_URL_PARAMS | also if also else EXCLUDED_URL_PARAMS
    if parts.query:
        kept = _kept_params(parts.query, excluded)
        return url if kept is None else urlunsplit(parts._replace(query=kept))
    if parts.fragment and "=" in parts.fragment:
        kept = _kept_params(parts.fragment, excluded)
        return url if kept is None else urlunsplit(parts._replace(fragment=kept))
    return url


def _kept_params(text: str, excluded: frozenset[str]) -> str | None:
    """``text`` (a query string) without excluded parameters; None when nothing is excluded."""
    pairs = text.split("&")
    kept = [pair for pair in pairs if unquote(pair.split("=", 1)[0]).lower() not in excluded]
    return None if len(kept) == len(pairs) else "&".join(kept)
