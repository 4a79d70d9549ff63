"""Demo web and app traffic for the demo site, sent through the real hit log and loader.

Visitors from Hong Kong, Singapore and elsewhere arrive from search engines, social sites,
other websites, a Yahoo lead-in campaign (the seed's "Yahoo leadin" series) or directly;
they read pages, play episodes (events), leave through outbound links (the seed's exit-link
report), download the app, search, and sometimes subscribe (goal 1). Requests are written
in matomo.js's own form to the durable hit log, then loaded and sessionized exactly as live
traffic is. Deterministic for a seed.

The subscribers of the demo's subscription world (``signups``: user id, country, start day,
given by the caller, who draws them from the same world as the subscription exports) visit
too: most arrive anonymously once or more in the weeks before (a campaign, a search, a
social post), then sign up on their start day with ``uid`` set to their user id on the same
browser, so the subscription marts can attribute them (docs/metrics.md, "From campaign to
revenue").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from tally.config import Settings
from tally.warehouse import Warehouse
from tally.web.hitlog import HitLog
from tally.web.loader import LoadResult, load_hits
from tally.web.sessions import SessionizeResult, sessionize

SITE_NAME = "tally Video"
SITE_URL = "https://video.tally.example"
SITE_TIMEZONE = "Asia/Hong_Kong"

# Addresses that the bundled GeoLite database places in each country (checked by the tests).
IPS = {
    "HK": ("1.64.10.20", "14.192.10.20", "43.128.10.20", "101.32.10.20"),
    "SG": ("3.0.10.20", "8.128.10.20", "27.0.10.20", "43.0.10.20"),
    "TW": ("1.160.10.20", "36.224.10.20"),
    "US": ("3.32.10.20", "4.0.10.20"),
}
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)
SERIES = ("Descendants of the Sun", "Goblin", "Running Man", "Love in the Moonlight")
OUTLINKS = (
    "http://groupstak.com",
    "http://flexibleflights.com",
    "http://travelmood.com",
    "http://authenticjobs.com",
    "http://madebyelephant.com/",
)
SEARCH_ENGINES = (
    ("https://www.google.com/search?q=", 6),
    ("https://www.bing.com/search?q=", 1),
    ("https://hk.search.yahoo.com/search?p=", 2),
)
KEYWORDS = ("korean drama online", "goblin episode 1", "running man eng sub", "tally video")
SOCIAL = ("https://www.facebook.com/", "https://t.co/abc", "https://www.instagram.com/")
WEBSITES = (
    "https://forum.hkgolden.com/thread/1",
    "https://www.soompi.com/article/1",
    "https://piwik.org/",
    "https://dramabeans.com/recaps/",
)


@dataclass
class DemoTraffic:
    requests: int
    loaded: LoadResult
    sessions: SessionizeResult


def ensure_demo_site(warehouse: Warehouse) -> int:
    """The demo site's id, creating the site and its goal the first time."""
    from tally.web.sites import add_goal, add_site, list_sites

    for site in list_sites(warehouse):
        if site.name == SITE_NAME:
            return site.idsite
    site = add_site(
        warehouse, SITE_NAME, [SITE_URL, "https://m.video.tally.example"], SITE_TIMEZONE
    )
    add_goal(
        warehouse, site.idsite, "Subscribe", "url", "contains", "/subscribe/thanks", revenue=68.0
    )
    return site.idsite


Signup = tuple[str, str, dt.date]  # user id, country, the day the subscription started
CAMPAIGNS = (  # name, source, medium, weight: the campaigns that bring subscribers
    ("autumn-drama", "facebook", "paid-social", 5),
    ("yahoo-leadin", "yahoo", "leadin", 3),
    ("newsletter-weekly", "newsletter", "email", 2),
)


def records(
    idsite: int,
    seed: int,
    start: dt.date,
    end: dt.date,
    visits_per_day: int = 300,
    signups: Sequence[Signup] = (),
) -> list[bytes]:
    """Hit-log records (matomo.js requests as the endpoint stores them) for every day, and
    the subscribers' journeys (``journeys``)."""
    rng = random.Random(seed)
    visitors: list[tuple[str, str, str, str]] = []  # id, ua, ip, lang
    out: list[bytes] = []
    day = start
    while day <= end:
        weekend = 1.4 if day.weekday() >= 5 else 1.0
        for _ in range(int(visits_per_day * weekend * rng.uniform(0.85, 1.15))):
            if visitors and rng.random() < 0.3:
                visitor = rng.choice(visitors)
            else:
                visitor = _new_visitor(rng)
                visitors.append(visitor)
            out.extend(_visit(rng, idsite, day, visitor, last_day=day == end))
        day += dt.timedelta(days=1)
    return out + journeys(idsite, seed, start, end, signups)


def journeys(
    idsite: int, seed: int, start: dt.date, end: dt.date, signups: Sequence[Signup]
) -> list[bytes]:
    """Each subscriber's visits: 70 % came through the site, of whom most visited
    anonymously one to three times in the 1..20 days before (from a campaign, a search, a
    social post or another site), then signed up on the start day with ``uid`` = their user
    id (setUserId on the sign-up page), on the same browser (the same ``_id``)."""
    rng = random.Random(seed * 7919 + 1)
    out: list[bytes] = []
    for user_id, country, day in signups:
        if rng.random() >= 0.7:
            continue  # came through an app store or a telco, never through the site
        visitor = _new_visitor(rng)
        visitor = (visitor[0], visitor[1], rng.choice(IPS.get(country, IPS["HK"])), visitor[3])
        for before in sorted(rng.sample(range(1, 21), k=rng.choice((0, 1, 1, 2, 3))), reverse=True):
            earlier = day - dt.timedelta(days=before)
            if earlier >= start:
                landing = _acquisition(rng)
                out.extend(_visit(rng, idsite, earlier, visitor, landing=landing))
        if start <= day <= end:
            landing = (f"{SITE_URL}/subscribe", "")
            out.extend(
                _visit(rng, idsite, day, visitor, last_day=day == end, landing=landing, uid=user_id)
            )
    return out


def _acquisition(rng: random.Random) -> tuple[str, str]:
    """Where a future subscriber came from: campaigns weigh more than in the general traffic."""
    if rng.random() < 0.45:
        name, source, medium, _ = rng.choices(CAMPAIGNS, weights=[c[3] for c in CAMPAIGNS])[0]
        query = f"mtm_campaign={name}&mtm_source={source}&mtm_medium={medium}"
        return f"{SITE_URL}/?{query}", ""
    return _landing(rng)


def _new_visitor(rng: random.Random) -> tuple[str, str, str, str]:
    country = rng.choices(list(IPS), weights=[60, 25, 8, 7])[0]
    lang = {"HK": "zh-HK,zh;q=0.9,en;q=0.8", "SG": "en-SG,en;q=0.9", "TW": "zh-TW"}.get(
        country, "en-US,en;q=0.9"
    )
    ua = rng.choices(USER_AGENTS, weights=[25, 10, 30, 22, 6, 5, 2])[0]
    return (f"{rng.getrandbits(64):016x}", ua, rng.choice(IPS[country]), lang)


def _visit(
    rng: random.Random,
    idsite: int,
    day: dt.date,
    visitor: tuple[str, str, str, str],
    last_day: bool = False,
    landing: tuple[str, str] | None = None,
    uid: str | None = None,
) -> list[bytes]:
    """One visit's requests; ``landing`` (url, referrer) instead of a random one, ``uid``
    (the User ID) on every request when the visitor is logged in."""
    visitor_id, ua, ip, lang = visitor
    hour = rng.choices(
        range(24),
        weights=[3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 6, 6, 5, 5, 6, 7, 8, 10, 12, 12, 9, 5],
    )[0]
    local = dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)))
    moment = local.replace(tzinfo=ZoneInfo(SITE_TIMEZONE)).astimezone(dt.UTC)
    url, referrer = landing or _landing(rng)
    hits: list[dict[str, str]] = []
    pages = min(1 + int(rng.expovariate(0.55)), 9)
    for number in range(pages):
        title, url = ("Home", url) if number == 0 and "?" in url else _page(rng)
        hits.append({"action_name": title, "url": url, "urlref": referrer if number == 0 else ""})
        roll = rng.random()
        if "/series/" in url and roll < 0.5:
            hits.append({"e_c": "Video", "e_a": "Play", "e_n": title, "url": url})
        elif roll < 0.08:
            hits.append({"link": rng.choice(OUTLINKS), "url": url})
            break
        elif roll < 0.11:
            hits.append({"download": f"{SITE_URL}/downloads/tally-video.apk", "url": url})
        elif roll < 0.15:
            keyword = rng.choice(SERIES).lower()
            hits.append(
                {
                    "search": keyword,
                    "search_count": str(rng.randint(0, 12)),
                    "url": f"{SITE_URL}/search?q={keyword.replace(' ', '+')}",
                }
            )
    if uid is not None or rng.random() < 0.04:
        hits.append({"action_name": "Subscribed", "url": f"{SITE_URL}/subscribe/thanks"})
    out = []
    for hit in hits:
        if last_day and local.date() > day:
            # the demo ends with its last day, complete in the site's zone: a visit running
            # past midnight would start a day of one visit that "yesterday" would open on
            break
        params = {
            "idsite": str(idsite),
            "rec": "1",
            "_id": visitor_id,
            "res": "1920x1080",
            "h": str(local.hour),
            "m": str(local.minute),
            "s": str(local.second),
            "r": f"{rng.randrange(10**6):06d}",
            **({"uid": uid} if uid else {}),
            **{k: v for k, v in hit.items() if v},
        }
        record = {
            "q": urlencode(params),
            "t": moment.replace(tzinfo=None).isoformat(),
            "ip": ip,
            "ua": ua,
            "lang": lang,
            "auth": False,
            "via": "get",
        }
        out.append(json.dumps(record, separators=(",", ":")).encode())
        step = dt.timedelta(seconds=rng.randint(5, 240))
        moment, local = moment + step, local + step
    return out


def _landing(rng: random.Random) -> tuple[str, str]:
    kind = rng.choices(
        ["direct", "search", "social", "website", "campaign"], weights=[35, 25, 15, 15, 10]
    )[0]
    home = f"{SITE_URL}/"
    if kind == "search":
        engine = rng.choices([e for e, _ in SEARCH_ENGINES], [w for _, w in SEARCH_ENGINES])[0]
        return home, engine + rng.choice(KEYWORDS).replace(" ", "+")
    if kind == "social":
        return home, rng.choice(SOCIAL)
    if kind == "website":
        return home, rng.choice(WEBSITES)
    if kind == "campaign":
        return (
            f"{home}?mtm_campaign=yahoo-leadin&mtm_source=yahoo&mtm_medium=leadin",
            "https://hk.yahoo.com/",
        )
    return home, ""


def _page(rng: random.Random) -> tuple[str, str]:
    choice = rng.random()
    if choice < 0.55:
        series = rng.choice(SERIES)
        slug = series.lower().replace(" ", "-")
        return series, f"{SITE_URL}/series/{slug}/episode-{rng.randint(1, 16)}"
    if choice < 0.75:
        return "Home", f"{SITE_URL}/"
    if choice < 0.9:
        return "Pricing", f"{SITE_URL}/pricing"
    return "Subscribe", f"{SITE_URL}/subscribe"


def write_records(settings: Settings, payloads: list[bytes]) -> None:
    """Append records to the hit log durably, as the tracking endpoint does."""
    log = HitLog(settings.web.hit_log_dir, settings.web.segment_bytes)
    log.start()
    try:

        async def append_all() -> None:
            for index in range(0, len(payloads), 5000):
                await log.append(payloads[index : index + 5000])

        asyncio.run(append_all())
    finally:
        log.close()


def generate_traffic(
    warehouse: Warehouse,
    settings: Settings,
    seed: int,
    start: dt.date,
    end: dt.date,
    visits_per_day: int = 300,
    signups: Sequence[Signup] = (),
) -> DemoTraffic:
    """Demo traffic for ``start``..``end`` (and the ``signups``' journeys): logged, loaded
    into web.hits, sessionized."""
    idsite = ensure_demo_site(warehouse)
    if _already_loaded(warehouse, idsite, start, end):
        return DemoTraffic(0, LoadResult(), sessionize(warehouse))
    payloads = records(idsite, seed, start, end, visits_per_day, signups)
    write_records(settings, payloads)
    loaded = load_hits(warehouse, settings)
    return DemoTraffic(len(payloads), loaded, sessionize(warehouse))


def _already_loaded(warehouse: Warehouse, idsite: int, start: dt.date, end: dt.date) -> bool:
    """A rerun of the demo must not add the same traffic twice."""
    if not warehouse.table_exists("web.hits"):
        return False
    found = warehouse.rows(
        "SELECT count(*) FROM web.hits WHERE idsite = ? AND hit_time >= ? AND hit_time < ?",
        [
            idsite,
            dt.datetime.combine(start, dt.time()) - dt.timedelta(hours=8),
            dt.datetime.combine(end + dt.timedelta(days=1), dt.time()),
        ],
    )
    return int(found[0][0]) > 0
