"""Matomo HTTP Tracking API parameters: check one request and describe the hit it records.

``check_hit`` holds every rule and runs when the request arrives, so a bad request is
refused with a reason before it is acknowledged; it only checks (one pass over the
parameters, precompiled patterns) and builds nothing. ``parse_hit`` runs in the loader: it
applies the same ``check_hit`` to the bytes that were made durable, then describes the hit.
Both are pure: no clock, no I/O.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

from tally.web.referrers import CAMPAIGN_KEYWORD, CAMPAIGN_MEDIUM, CAMPAIGN_NAME, CAMPAIGN_SOURCE

# A custom timestamp older than this needs a valid token_auth (as in Matomo).
CDT_WITHOUT_TOKEN = dt.timedelta(hours=24)
MAX_VALUE_LENGTH = 8192
CUSTOM_VARIABLE_SLOTS = 5  # Matomo's default number of custom variable slots
CUSTOM_VARIABLE_LENGTH = 200  # and its longest name or value

# Parameters that only a request with a valid token_auth may set.
AUTHENTICATED_PARAMS = ("cip", "country", "region", "city", "lat", "long")
AUTHENTICATED_NAMES = frozenset(AUTHENTICATED_PARAMS)

HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")
RESOLUTION = re.compile(r"^\d{1,5}x\d{1,5}$")
PAGE_VIEW_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
CONTROL = re.compile(r"[\x00-\x1f]")
DIMENSION = re.compile(r"^dimension(\d{1,3})$")
COUNTRY = re.compile(r"[A-Za-z]{2}\Z")
PERFORMANCE = ("pf_net", "pf_srv", "pf_tfr", "pf_dm1", "pf_dm2", "pf_onl")


class Rejected(ValueError):  # noqa: N818 - reads as "raise Rejected(...)"
    """A tracking request that must not be stored; ``reason`` says why, ``field`` where."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field


@dataclass
class Hit:
    """The facts one valid tracking request states, before enrichment."""

    idsite: int
    received_at: dt.datetime
    hit_time: dt.datetime
    kind: str
    visitor_id: str | None = None
    user_id: str | None = None
    url: str | None = None
    action_name: str | None = None
    urlref: str | None = None
    link_url: str | None = None
    search_keyword: str | None = None
    search_category: str | None = None
    search_count: int | None = None
    event_category: str | None = None
    event_action: str | None = None
    event_name: str | None = None
    event_value: float | None = None
    idgoal: int | None = None
    revenue: float | None = None
    new_visit: bool = False
    pv_id: str | None = None
    resolution: str | None = None
    local_hour: int | None = None
    local_minute: int | None = None
    local_second: int | None = None
    lang: str | None = None
    user_agent: str | None = None
    client_ip: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    keep_bots: bool = False
    custom_variables: str | None = None
    dimensions: str | None = None
    performance: str | None = None
    campaign: dict[str, str] = field(default_factory=dict)
    attribution: dict[str, str] = field(default_factory=dict)  # _rcn, _rck, _ref
    ecommerce: str | None = None  # JSON: order id, subtotal, tax, shipping, discount, items
    order_id: str | None = None  # ec_id of an ecommerce order


def parse_hit(
    params: Mapping[str, str],
    *,
    received_at: dt.datetime,
    authenticated: bool,
    peer_ip: str | None = None,
    header_ua: str | None = None,
    header_lang: str | None = None,
) -> Hit:
    """Check a request's parameters and return its hit; raise ``Rejected`` naming the field.

    ``received_at`` is naive UTC. ``authenticated`` says whether a valid token_auth came
    with the request (it allows ``cip``, old ``cdt`` and the location parameters).
    """
    idsite = check_hit(params, received_at=received_at, authenticated=authenticated)
    # Past check_hit every value below converts; the helpers still refuse rather than guess.
    hit = Hit(
        idsite=idsite,
        received_at=received_at,
        hit_time=_hit_time(params.get("cdt"), received_at, authenticated),
        kind=_kind(params),
    )
    _identity(hit, params)
    _action(hit, params)
    _client(hit, params, peer_ip, header_ua, header_lang)
    _location(hit, params)
    _extras(hit, params)
    return hit


def check_hit(params: Mapping[str, str], *, received_at: dt.datetime, authenticated: bool) -> int:
    """Every rule a tracking request must pass; its site id, or ``Rejected`` naming the field.

    The endpoint runs this before acknowledging a hit, and ``parse_hit`` runs it again in the
    loader. One pass over the parameters with a check per known name, then the few rules
    that involve two parameters.
    """
    if params.get("rec") != "1":
        raise Rejected("rec=1 is required to record a hit", "rec")
    get = params.get
    site_text = get("idsite") or ""
    if site_text.isdigit() and site_text.isascii() and site_text[0] != "0":
        idsite = int(site_text)  # the usual form, without the general conversion
    else:
        converted = _integer(params, "idsite", minimum=1)
        if converted is None:
            raise Rejected("idsite is required", "idsite")
        idsite = converted
    if not authenticated and not AUTHENTICATED_NAMES.isdisjoint(params):
        for name in AUTHENTICATED_PARAMS:
            if get(name):
                raise Rejected("needs a valid token_auth", name)
    # C-level passes first (longest value, names that have a check); Python only for those
    if max(map(len, params.values()), default=0) > MAX_VALUE_LENGTH:
        for name, value in params.items():
            if len(value) > MAX_VALUE_LENGTH:
                raise Rejected(f"longer than {MAX_VALUE_LENGTH} characters", name)
    for name in sorted(VALUE_CHECKS.keys() & params.keys()):
        value = params[name]
        if value:
            VALUE_CHECKS[name](value, name)
    # cid wins over _id, link over download: only the value that is used is checked
    if not get("cid") and get("_id"):
        _hex16(params["_id"], "_id")
    if not get("link") and get("download"):
        _no_control(params["download"], "download")
    event_category, event_action = get("e_c"), get("e_a")
    if (event_category or event_action) and get("ping") != "1":
        if not (event_category and event_action):
            raise Rejected("an event needs both e_c and e_a", "e_a" if event_category else "e_c")
    if get("cdt"):
        _hit_time(params["cdt"], received_at, authenticated)
    if get("ec_items") and get("idgoal") == "0":
        _items(params["ec_items"])
    return idsite


def _hex16(value: str, name: str) -> None:
    if not HEX16.match(value):
        raise Rejected("must be 16 hexadecimal characters", name)


def _no_control(value: str, name: str) -> None:
    if CONTROL.search(value):
        raise Rejected("contains control characters", name)


def _matches(pattern: re.Pattern[str], message: str) -> Callable[[str, str], object]:
    def check(value: str, name: str) -> None:
        if not pattern.match(value):
            raise Rejected(message, name)

    return check


def _bounded_integer(minimum: int, maximum: int | None = None) -> Callable[[str, str], object]:
    def check(value: str, name: str) -> None:
        # the common case (plain digits in range) without the general conversion's layers
        if value.isdigit() and value.isascii():
            number = int(value)
            if number >= minimum and (maximum is None or number <= maximum):
                return
        _integer({name: value}, name, minimum=minimum, maximum=maximum)

    return check


def _bounded_number(
    minimum: float | None = None, maximum: float | None = None
) -> Callable[[str, str], object]:
    def check(value: str, name: str) -> None:
        _number({name: value}, name, minimum=minimum, maximum=maximum)

    return check


def _flag_value(value: str, name: str) -> None:
    _flag({name: value}, name)


def custom_dimensions(params: Mapping[str, str]) -> dict[str, str]:
    """The custom dimensions (``dimensionN``) that have a value."""
    dimensions = {}
    for name, value in params.items():
        if name.startswith("dimension") and value:
            matched = DIMENSION.match(name)
            if matched:
                dimensions[matched.group(1)] = value
    return dimensions


def _kind(params: Mapping[str, str]) -> str:
    """What the request records; order follows which parameter Matomo looks at first."""
    if params.get("ping") == "1":
        return "ping"
    if params.get("e_c") or params.get("e_a"):
        return "event"
    if params.get("link"):
        return "outlink"
    if params.get("download"):
        return "download"
    if params.get("search"):
        return "search"
    if params.get("idgoal") == "0":
        # Matomo's ecommerce requests: an order (with ec_id) or a cart update (without)
        return "order" if params.get("ec_id") else "cart"
    if params.get("idgoal"):
        return "goal"
    if params.get("ca") == "1":
        return "other"
    return "pageview"


def _identity(hit: Hit, params: Mapping[str, str]) -> None:
    # cid forces the visitor id; _id is the tracker's cookie value.
    for name in ("cid", "_id"):
        value = params.get(name)
        if value:
            if not HEX16.match(value):
                raise Rejected("must be 16 hexadecimal characters", name)
            hit.visitor_id = value.lower()
            break
    hit.user_id = params.get("uid") or None
    hit.new_visit = _flag(params, "new_visit")
    pv_id = params.get("pv_id")
    if pv_id:
        if not PAGE_VIEW_ID.match(pv_id):
            raise Rejected("must be letters and digits", "pv_id")
        hit.pv_id = pv_id


def _action(hit: Hit, params: Mapping[str, str]) -> None:
    hit.url = _url(params, "url")
    hit.urlref = _url(params, "urlref")
    hit.action_name = params.get("action_name") or None
    hit.link_url = _url(params, "link") or _url(params, "download")
    hit.search_keyword = params.get("search") or None
    hit.search_category = params.get("search_cat") or None
    hit.search_count = _integer(params, "search_count", minimum=0)
    # trimmed, as Matomo stores an event's parts (a trailing space makes no new label)
    hit.event_category = (params.get("e_c") or "").strip() or None
    hit.event_action = (params.get("e_a") or "").strip() or None
    hit.event_name = (params.get("e_n") or "").strip() or None
    hit.event_value = _number(params, "e_v")
    if hit.kind == "event" and not (hit.event_category and hit.event_action):
        raise Rejected("an event needs both e_c and e_a", "e_a" if hit.event_category else "e_c")
    hit.idgoal = _integer(params, "idgoal", minimum=0)
    hit.revenue = _number(params, "revenue")


def _client(
    hit: Hit,
    params: Mapping[str, str],
    peer_ip: str | None,
    header_ua: str | None,
    header_lang: str | None,
) -> None:
    resolution = params.get("res")
    if resolution:
        if not RESOLUTION.match(resolution):
            raise Rejected("must be WIDTHxHEIGHT, e.g. 1280x720", "res")
        hit.resolution = resolution
    hit.local_hour = _integer(params, "h", minimum=0, maximum=23)
    hit.local_minute = _integer(params, "m", minimum=0, maximum=59)
    hit.local_second = _integer(params, "s", minimum=0, maximum=59)
    hit.user_agent = params.get("ua") or header_ua or None
    hit.lang = params.get("lang") or header_lang or None
    hit.client_ip = _ip(cip, "cip") if (cip := params.get("cip")) else peer_ip
    hit.keep_bots = _flag(params, "bots")


def _location(hit: Hit, params: Mapping[str, str]) -> None:
    country = params.get("country")
    if country:
        if not COUNTRY.match(country):
            raise Rejected("must be a two-letter country code", "country")
        hit.country = country.upper()
    hit.region = params.get("region") or None
    hit.city = params.get("city") or None
    hit.latitude = _number(params, "lat", minimum=-90, maximum=90)
    hit.longitude = _number(params, "long", minimum=-180, maximum=180)


def _extras(hit: Hit, params: Mapping[str, str]) -> None:
    # Each group is looked for only when one of its names was sent (one C-level set test
    # per group: most hits send none of them)
    names = params.keys()
    variables: dict[str, Any] = {}
    if not CUSTOM_VARIABLE_NAMES.isdisjoint(names):
        # Matomo's scopes: _cvar holds the visit's custom variables, cvar the page's
        for name, scope in (("_cvar", "visit"), ("cvar", "page")):
            if params.get(name):
                variables[scope] = _custom_variables(params[name], name)
    hit.custom_variables = json.dumps(variables, sort_keys=True) if variables else None
    if hit.kind in ("order", "cart"):
        hit.ecommerce = json.dumps(ecommerce_facts(params), sort_keys=True)
        hit.order_id = params.get("ec_id") or None
    elif hit.kind == "pageview" and any(params.get(name) for name in PRODUCT_VIEW):
        hit.ecommerce = json.dumps(_product_view(params), sort_keys=True)
    dimensions = custom_dimensions(params)
    hit.dimensions = json.dumps(dimensions, sort_keys=True) if dimensions else None
    if not PERFORMANCE_NAMES.isdisjoint(names):
        timings = {
            name: _integer(params, name, minimum=0) for name in PERFORMANCE if params.get(name)
        }
        hit.performance = json.dumps(timings, sort_keys=True) if timings else None
    # Campaign parameters sent as tracking parameters (an image tracker's pk_campaign=...)
    # name the visit's campaign (Referrers/Columns/Base.php,
    # detectReferrerCampaignFromTrackerParams). matomo.js's _rcn/_rck (its attribution
    # cookie) are not among them: Matomo credits only goal conversions with those.
    if not TRACKER_CAMPAIGN_NAMES.isdisjoint(names):
        for name in TRACKER_CAMPAIGN_PARAMS:
            if params.get(name):
                hit.campaign[name] = params[name]
    # matomo.js's attribution cookie: the referrer a goal conversion is credited with
    if not ATTRIBUTION_NAMES.isdisjoint(names):
        for name in ATTRIBUTION_PARAMS:
            if params.get(name, "").strip():
                hit.attribution[name] = params[name].strip()


TRACKER_CAMPAIGN_PARAMS = (*CAMPAIGN_NAME, *CAMPAIGN_KEYWORD, *CAMPAIGN_SOURCE, *CAMPAIGN_MEDIUM)
TRACKER_CAMPAIGN_NAMES = frozenset(TRACKER_CAMPAIGN_PARAMS)
ATTRIBUTION_PARAMS = ("_rcn", "_rck", "_ref")
ATTRIBUTION_NAMES = frozenset(ATTRIBUTION_PARAMS)
CUSTOM_VARIABLE_NAMES = frozenset(("_cvar", "cvar"))
PERFORMANCE_NAMES = frozenset(PERFORMANCE)


# setEcommerceView: a product (or category) page, sent with its page view
PRODUCT_VIEW = ("_pks", "_pkn", "_pkc", "_pkp")


def _product_view(params: Mapping[str, str]) -> dict[str, Any]:
    """A product page's facts: {"view": [sku, name, category, price]}, the category a text
    or (``_pkc`` a JSON list, as matomo.js sends several) a list."""
    category: Any = params.get("_pkc") or ""
    if category.startswith("["):
        try:
            category = json.loads(category)
        except json.JSONDecodeError:
            pass  # a category that only looks like a list stays text
    return {
        "view": [
            params.get("_pks") or "",
            params.get("_pkn") or "",
            category,
            _number(params, "_pkp") or 0,
        ]
    }


ECOMMERCE_AMOUNTS = {"ec_st": "subtotal", "ec_tx": "tax", "ec_sh": "shipping", "ec_dt": "discount"}


def ecommerce_facts(params: Mapping[str, str]) -> dict[str, Any]:
    """An order's or a cart's facts: ``ec_id``, the amounts and ``ec_items``, a JSON list of
    [sku, name, category, price, quantity] (category: a text or a list of up to five)."""
    found: dict[str, Any] = {"order_id": params.get("ec_id") or None}
    for name, key in ECOMMERCE_AMOUNTS.items():
        found[key] = _number(params, name)
    found["items"] = _items(params["ec_items"]) if params.get("ec_items") else []
    return found


def _items(raw: str) -> list[list[Any]]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise Rejected(f"not valid JSON ({error.msg})", "ec_items") from None
    if isinstance(value, dict):  # older trackers sent an object keyed by sku
        value = list(value.values())
    if not isinstance(value, list):
        raise Rejected("must be a JSON list of [sku, name, category, price, quantity]", "ec_items")
    items = []
    for item in value:
        if not isinstance(item, list) or not item or not str(item[0]).strip():
            raise Rejected("each item is [sku, name, category, price, quantity]", "ec_items")
        sku, name, category, price, quantity = (list(item) + ["", "", 0, 1])[:5]
        try:
            price_value, quantity_value = float(price or 0), float(quantity or 1)
        except (TypeError, ValueError):
            raise Rejected("an item's price and quantity must be numbers", "ec_items") from None
        items.append([str(sku), str(name or ""), category or "", price_value, quantity_value])
    return items


def _custom_variables(raw: str, name: str) -> dict[str, list[str]]:
    """Matomo's rules (plugin CustomVariables, Tracker/CustomVariablesRequestProcessor.php):
    slots 1 to 5 only, each a [name, value] pair of scalars; other entries are skipped, not
    fatal; names and values are trimmed and cut to 200 characters."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise Rejected(f"not valid JSON ({error.msg})", name) from None
    if not isinstance(value, dict):
        raise Rejected('must be a JSON object like {"1":["name","value"]}', name)
    return {
        str(int(index)): [str(part).strip()[:CUSTOM_VARIABLE_LENGTH] for part in pair]
        for index, pair in value.items()
        if str(index).isdigit()
        and 1 <= int(index) <= CUSTOM_VARIABLE_SLOTS
        and isinstance(pair, list)
        and len(pair) == 2
        and all(isinstance(part, str | int | float) for part in pair)
    }


def _hit_time(raw: str | None, received_at: dt.datetime, authenticated: bool) -> dt.datetime:
    if not raw:
        return received_at
    when = parse_cdt(raw)
    if when > received_at:
        # A client clock running ahead must not put a hit in the future.
        return received_at
    if received_at - when > CDT_WITHOUT_TOKEN and not authenticated:
        raise Rejected("older than 24 hours needs a valid token_auth", "cdt")
    return when


def parse_query(text: str) -> dict[str, str]:
    """Query text as a dict; a repeated name keeps its last value, as ``dict(parse_qsl())``.

    Written here because ``urllib.parse.parse_qsl`` was half the cost of a bulk request;
    only parts that are actually encoded go through ``unquote_plus``.
    """
    found: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = decoded_value(name)
        if "%" in value or "+" in value:
            value = decoded_value(value)
        found[name] = value
    return found


# A site's traffic repeats its page URLs, titles and referrers, and urllib's decoding
# was half the cost of parsing a query: each short encoded text is decoded once (the
# bound keeps the cache under about 8 MB).
_decode_short = lru_cache(maxsize=16_384)(unquote_plus)


def decoded_value(text: str) -> str:
    """A query's name or value, percent- and plus-decoded as ``parse_query`` decodes it."""
    return _decode_short(text) if len(text) <= 512 else unquote_plus(text)


def parse_cdt(raw: str) -> dt.datetime:
    """A ``cdt`` value (UNIX seconds, or a UTC date-time) as naive UTC."""
    text = raw.strip()
    try:
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return dt.datetime.fromtimestamp(float(text), dt.UTC).replace(tzinfo=None)
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise Rejected("expected UNIX seconds or 'YYYY-MM-DD HH:MM:SS' in UTC", "cdt") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def _flag(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name)
    if value in (None, "", "0"):
        return False
    if value == "1":
        return True
    raise Rejected("must be 0 or 1", name)


def _integer(
    params: Mapping[str, str], name: str, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Rejected(f"not an integer: {raw[:40]!r}", name) from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise Rejected(f"{value} is out of range", name)
    return value


def _number(
    params: Mapping[str, str],
    name: str,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Rejected(f"not a number: {raw[:40]!r}", name) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise Rejected("must be a finite number", name)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise Rejected(f"{value} is out of range", name)
    return value


def _url(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if not value:
        return None
    if CONTROL.search(value):
        raise Rejected("contains control characters", name)
    return value


def _ip(raw: str, name: str) -> str:
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        raise Rejected(f"not an IP address: {raw[:40]!r}", name) from None


# The checks of single non-empty values, by parameter name (cross-parameter rules and
# _id / download, which depend on cid / link, are in check_hit itself).
VALUE_CHECKS: dict[str, Callable[[str, str], object]] = {
    "cid": _hex16,
    "pv_id": _matches(PAGE_VIEW_ID, "must be letters and digits"),
    "new_visit": _flag_value,
    "bots": _flag_value,
    "url": _no_control,
    "urlref": _no_control,
    "link": _no_control,
    "search_count": _bounded_integer(0),
    "e_v": _bounded_number(),
    "idgoal": _bounded_integer(0),
    "revenue": _bounded_number(),
    "ec_st": _bounded_number(),
    "ec_tx": _bounded_number(),
    "ec_sh": _bounded_number(),
    "ec_dt": _bounded_number(),
    "res": _matches(RESOLUTION, "must be WIDTHxHEIGHT, e.g. 1280x720"),
    "h": _bounded_integer(0, 23),
    "m": _bounded_integer(0, 59),
    "s": _bounded_integer(0, 59),
    "cip": _ip,
    "country": _matches(COUNTRY, "must be a two-letter country code"),
    "lat": _bounded_number(-90, 90),
    "long": _bounded_number(-180, 180),
    "_cvar": _custom_variables,
    "cvar": _custom_variables,
    **{name: _bounded_integer(0) for name in PERFORMANCE},
}


# -- the quick check -------------------------------------------------------------------
# Most hits are plain: known names written as is, values in their simplest valid form.
# One compiled pattern recognises such a query text whole, so it needs neither parsing into
# a dict nor check_hit's Python. It only ever answers "certainly valid" (with the site id)
# or "not sure"; check_hit decides the rest. The pattern checks EVERY occurrence of a name,
# so a repeated name (where the last value counts) cannot slip a bad value through.
# A value without control characters, raw or percent-encoded (%00-%1F), written as an
# unrolled loop (runs of plain characters between percent signs): the engine's cheapest form.
_NO_CONTROL = r"[^&%\x00-\x1f]*+(?:%(?![01][0-9A-Fa-f])[^&%\x00-\x1f]*+)*+"
_FREE = r"[^&]*+"
# Names check_hit only stores or ignores (no rule reads them).
_FREE_NAMES = (
    "action_name r uid lang ua search search_cat e_n ping ca rand apiv _idts _idvc _viewts"
    " _idn _ref _rcn _rck _refts pdf qt realp wma fla java ag cookie dir gears gt_ms uadata"
    " pv_ts"
).split()
_COUNTS = "search_count idgoal pf_net pf_srv pf_tfr pf_dm1 pf_dm2 pf_onl".split()
# One branch per name, each starting with its literal name: the engine skips a branch whose
# first character differs without entering it (a nested alternation of names costs more).
# Ordered by how often matomo.js sends them. No capturing groups: captures inside the
# repetition cost a save per pair, and the site is read afterwards with ``last_value``.
_QUICK_PAIRS = "|".join(
    [
        *(f"{name}={_NO_CONTROL}" for name in ("url", "urlref", "link", "download")),
        *(f"{name}={_FREE}" for name in _FREE_NAMES),
        f"dimension[0-9]{{1,3}}={_FREE}",
        *(f"{name}=(?:[0-9a-fA-F]{{16}})?" for name in ("_id", "cid")),
        r"idsite=[1-9][0-9]{0,8}",
        r"rec=1",
        r"res=[0-9]{1,5}x[0-9]{1,5}",
        r"h=(?:[01]?[0-9]|2[0-3])",
        r"[ms]=[0-5]?[0-9]",
        r"pv_id=[0-9A-Za-z]{0,64}",
        *(f"{name}=[01]?" for name in ("new_visit", "bots", "send_image")),
        *(f"{name}=[0-9]{{0,9}}" for name in _COUNTS),
        *(rf"{name}=(?:[0-9]{{1,15}}(?:\.[0-9]{{1,6}})?)?" for name in ("e_v", "revenue")),
    ]
)
# Possessive: a pair ends at the next "&" whatever branch took it (no value holds "&"), so
# there is nothing to backtrack into.
QUICK = re.compile(rf"(?:(?:{_QUICK_PAIRS})(?:&|\Z))++")

# The same language for RE2 (Arrow's regular expressions, a whole batch of texts at once in
# the loader), which has neither look-ahead nor possessive forms and needs neither: it runs
# as an automaton. A value without encoded control characters is written as the automaton
# it is: plain characters, or a run of "%" (a "%0"/"%1" may sit between two) that ends in a
# plain character which does not complete "%0X"/"%1X", or at the value's end.
_RE2_PLAIN = r"[^&%\x00-\x1f]"
_RE2_PERCENTS = r"%(?:%|[01]%)*"
_RE2_NO_CONTROL = (
    rf"(?:{_RE2_PLAIN}|{_RE2_PERCENTS}(?:[^&%\x00-\x1f01]|[01][^&%\x00-\x1f0-9A-Fa-f]))*"
    rf"(?:{_RE2_PERCENTS}[01]?)?"
)
_RE2_PAIRS = _QUICK_PAIRS.replace(_NO_CONTROL, _RE2_NO_CONTROL).replace("*+", "*")


def quick_pattern_re2(free_names: tuple[str, ...] = ()) -> str:
    """``QUICK`` as an RE2 pattern matched against a whole text (``^...$``); each of
    ``free_names`` is taken with any value too (the loader checks events' values itself)."""
    pairs = "|".join([_RE2_PAIRS, *(f"{name}={_FREE}" for name in free_names)])
    return rf"^(?:(?:{pairs})(?:&|$))+$".replace("*+", "*")


def quick_site(text: str) -> int | None:
    """The site id of a query text that certainly passes ``check_hit``; None when unsure.

    Unsure covers everything outside the plain forms above (events, ``cdt``, custom
    variables, token-only parameters, encoded names, empty parts, texts longer than a value
    may be): those go through ``parse_query`` and ``check_hit`` as usual.
    """
    if len(text) > MAX_VALUE_LENGTH or QUICK.fullmatch(text) is None:
        return None
    # Past the pattern every "&" separates pairs and every rec pair is exactly rec=1.
    if not (text.startswith("rec=1") or "&rec=1" in text):
        return None
    site = last_value(text, "idsite")  # the last one counts, as in parse_query
    return None if site is None else int(site)


def last_value(raw: str, name: str) -> str | None:
    """The last value of ``name`` in a query text, undecoded; None when absent.

    String searches from the end: a regular expression over the whole text cost more than
    checking the hit itself (benchmarks/README.md, tracking profile).
    """
    key = name + "="
    position = raw.rfind(key)
    while position > 0 and raw[position - 1] != "&":
        position = raw.rfind(key, 0, position)
    if position < 0:
        return None
    start = position + len(key)
    end = raw.find("&", start)
    return raw[start:] if end < 0 else raw[start:end]
