"""What a hit's user agent and IP say: device, OS, browser, bot, country, provider; then the
IP is anonymised before anything is stored."""

from __future__ import annotations

import bisect
import ipaddress
import re
import sys
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any


@dataclass(frozen=True)
class Device:
    type: str | None = None
    brand: str | None = None
    model: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    browser_name: str | None = None
    browser_version: str | None = None
    is_bot: bool = False


@cache
def _device_detector() -> type:
    """device-detector's parser class, with its regular expressions compiled once per process.

    device-detector 6 compiles its ~1,000 patterns lazily but on fresh objects for every user
    agent, which cost 3-5 s per new agent here (measured); sharing compiled patterns through
    one cache makes an agent after the first few cost tens of milliseconds.
    """
    import device_detector.lazy_regex as lazy_regex
    import regex

    class CompiledOnce:
        compile = staticmethod(lru_cache(maxsize=None)(regex.compile))

    lazy_regex.regex = CompiledOnce
    from device_detector import DeviceDetector

    detector: type = DeviceDetector
    return detector


# Traffic repeats a few thousand agents, so each is parsed once.
@lru_cache(maxsize=20_000)
def detect_device(user_agent: str | None) -> Device:
    """Device, OS and browser of a user agent (device-detector, Matomo's own rules)."""
    if not user_agent:
        return Device()
    DeviceDetector = _device_detector()  # noqa: N806 - the library's class

    parsed = DeviceDetector(user_agent).parse()
    if parsed.is_bot():
        return Device(type="bot", is_bot=True)
    return Device(
        type=_text(parsed.device_type()),
        brand=_text(parsed.device_brand()),
        model=_text(parsed.device_model()),
        os_name=_text(parsed.os_name()),
        os_version=_text(parsed.os_version()),
        browser_name=_text(parsed.client_name()),
        browser_version=_text(parsed.client_version()),
    )


def _text(value: object) -> str | None:
    text = str(value or "").strip()
    return None if text in ("", "UNK", "Unknown") else text


@cache
def _geo(with_provider: bool = True) -> Any:  # geoip2fast has no public type
    from geoip2fast import GeoIP2Fast

    # The wheel's "asn-ipv6" file holds the IPv4 and IPv6 networks with their countries (the
    # same GeoLite2 release as its country-only file: 200,000 random addresses gave the same
    # country in both) and the organisation each network is registered to, so one lookup
    # gives both. Without providers the country-only file is enough (about 20 MB less
    # memory, and one search per address instead of two).
    name = "geoip2fast-asn-ipv6.dat.gz" if with_provider else "geoip2fast-ipv6.dat.gz"
    return GeoIP2Fast(geoip2fast_data_file=name)


@dataclass(frozen=True)
class Network:
    """Where an address is registered: its country and its provider (the AS organisation)."""

    country: str | None = None
    provider: str | None = None


# geoip2fast's names for "no organisation": IANA.ORG owns the private and reserved ranges.
NO_PROVIDER = frozenset({"", "<unknown>", "IANA.ORG"})


# A visitor sends many hits from one address: the IP functions are cached.
@lru_cache(maxsize=65_536)
def network_of(ip: str | None, with_provider: bool = True) -> Network:
    """Country and provider of an IP from the databases shipped in geoip2fast.

    Private, reserved and unlisted addresses have neither (Matomo too shows such visits
    as "Unknown"). ``with_provider=False`` reads the country-only database.
    """
    if not ip:
        return Network()
    geo = _geo(with_provider)
    try:
        found = _found(geo, ip)
    except Exception:  # an invalid address: lookup's own answer (below)
        found = None
    if found is None:  # an address lookup answers with an error code: its own answer
        try:
            detail = geo.lookup(ip)
        except Exception:  # geoip2fast raises plain exceptions on odd input; nothing known
            return Network()
        found = (detail.country_code, detail.is_private, detail.asn_name)
    code, private, asn_name = found
    if private:
        return Network()
    name = (asn_name or "").strip()
    return Network(
        country=code if code and len(code) == 2 and code.isalpha() else None,
        provider=None if name in NO_PROVIDER else name[:100],
    )


def _found(geo: Any, ip: str) -> tuple[str, bool, str] | None:
    """What ``geo.lookup(ip)`` answers that ``network_of`` reads (country code, private,
    AS name), by lookup's own steps without what it adds that tally discards: the elapsed
    time formatted as text, two CIDR strings and the result object (about half of a
    lookup's CPU; a load meets each address once). None when lookup answers with an error
    code (an invalid address, a network not found, a failed step) or reads a city
    database: then lookup is asked. tests/web/test_enrich.py compares the two."""
    iplong = geo._ip2int(ip)  # raises for an invalid address, as inside lookup
    found = geo._main_index_lookup(iplong)  # a GeoIPError object (returned) when it failed
    if not isinstance(found, tuple) or not geo.country:
        return None
    root, chunk, _, last, _ = found
    if iplong > last:
        return None
    country = geo._country_lookup(root, chunk)
    if not isinstance(country, tuple):
        return None
    return country[0], country[2], _asn_name(geo, iplong)


def _asn_name(geo: Any, iplong: int) -> str:
    """geoip2fast's ``_asn_lookup(iplong)[0]``, without the network's CIDR text. Its
    tables are the module's globals (the last database file loaded sets them), read here
    as lookup reads them."""
    if geo.asn == False:  # noqa: E712 - geoip2fast's own test, as it writes it
        return ""
    tables = sys.modules[type(geo).__module__]
    try:
        root = bisect.bisect_right(tables.mainIndexASN, iplong) - 1
        chunk = bisect.bisect_right(tables.mainListFirstIPASN[root], iplong) - 1
        first = tables.mainListFirstIPASN[root][chunk]
        netlen = tables.mainListNetlengthASN[root][chunk]
        sizes = tables.numIPsv6 if geo.ipv6 else tables.numIPsv4
        if iplong > first + sizes[netlen] - 1:
            return ""
        name: str = tables.mainListNamesASN[tables.mainListIDASN[root][chunk]]
        return name
    except Exception:  # as _asn_lookup: no organisation
        return ""


def country_of(ip: str | None) -> str | None:
    """ISO country code of an IP from the database shipped in geoip2fast, or None."""
    return network_of(ip).country


def provider_of(ip: str | None) -> str | None:
    """The organisation an IP's network is registered to (its AS name), or None."""
    return network_of(ip).provider


# Bits of an IPv6 address kept per anonymised "byte" setting (IPv4 zeroes whole bytes;
# IPv6 addresses carry the network in their upper 64 bits, so more is removed).
IPV6_KEPT_BITS = {0: 128, 1: 64, 2: 48, 3: 32, 4: 0}


# An IPv4 address as ipaddress writes it (no leading zeros, ASCII digits): its bytes are
# zeroed as text, ~0.8 µs instead of ipaddress's ~8 (a load meets each address once)
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_CANONICAL = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


@lru_cache(maxsize=65_536)
def anonymise_ip(ip: str | None, anonymised_bytes: int) -> str | None:
    """The IP with its last ``anonymised_bytes`` bytes zeroed (IPv6: a wider mask)."""
    if not ip:
        return None
    if IPV4_CANONICAL.fullmatch(ip):
        kept = ip.split(".")[: 4 - anonymised_bytes]
        return ".".join(kept + ["0"] * anonymised_bytes)
    return _anonymised(ip, anonymised_bytes)


def _anonymised(ip: str, anonymised_bytes: int) -> str | None:
    """``anonymise_ip`` for any address, by ipaddress."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if address.version == 4:
        kept = 32 - 8 * anonymised_bytes
    else:
        kept = IPV6_KEPT_BITS[anonymised_bytes]
    network = ipaddress.ip_network(f"{address}/{kept}", strict=False)
    return str(network.network_address)
