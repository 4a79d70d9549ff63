"""Device detection, country and provider lookup, and IP anonymisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from tally.web.enrich import (
    Network,
    _anonymised,
    _found,
    _geo,
    anonymise_ip,
    country_of,
    detect_device,
    network_of,
)

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def test_a_phone_is_recognised() -> None:
    found = detect_device(IPHONE)
    assert (found.type, found.brand, found.model) == ("smartphone", "Apple", "iPhone")
    assert (found.os_name, found.browser_name, found.is_bot) == ("iOS", "Mobile Safari", False)


def test_a_crawler_is_a_bot_and_no_agent_is_unknown() -> None:
    assert detect_device("Googlebot/2.1 (+http://www.google.com/bot.html)").is_bot is True
    assert detect_device(None).type is None


@pytest.mark.parametrize(
    ("ip", "anonymised", "expected"),
    [
        ("203.0.113.77", 0, "203.0.113.77"),
        ("203.0.113.77", 1, "203.0.113.0"),
        ("203.0.113.77", 2, "203.0.0.0"),
        ("203.0.113.77", 4, "0.0.0.0"),
        # IPv6 keeps 64 / 48 bits for 1 / 2 bytes (the network part of the address).
        ("2001:db8:1234:5678:9abc::1", 1, "2001:db8:1234:5678::"),
        ("2001:db8:1234:5678:9abc::1", 2, "2001:db8:1234::"),
        ("not an ip", 2, None),
        (None, 2, None),
    ],
)
def test_anonymise_ip(ip: str | None, anonymised: int, expected: str | None) -> None:
    assert anonymise_ip(ip, anonymised) == expected


@examples(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["0", "1", "9", "00", "01", "10", "99", "199", "255", "256", "300"]),
        min_size=3,
        max_size=5,
    ).map(".".join)
    | st.sampled_from(["1.2.3.4.", "1.2.3.4\n", "\u0661.2.3.4", "1..2.3", "::ffff:1.2.3.4"]),
    st.integers(0, 4),
)
def test_an_address_written_as_text_is_anonymised_as_ipaddress_does(
    ip: str, anonymised: int
) -> None:
    """IPv4 in ipaddress's own form is zeroed as text: the same answer as ipaddress
    gives (None for what it refuses: leading zeros, a byte over 255, a stray dot)."""
    assert anonymise_ip.__wrapped__(ip, anonymised) == _anonymised(ip, anonymised)


def test_country_from_the_shipped_database() -> None:
    assert country_of("8.8.8.8") == "US"  # Google Public DNS, registered in the US
    assert country_of("2001:4860:4860::8888") == "US"  # its IPv6 address
    assert country_of("127.0.0.1") is None  # private: no country
    assert country_of(None) is None


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        # owners as the bundled GeoLite2 ASN data names them
        ("203.198.1.1", Network("HK", "HKT Limited")),
        ("210.6.0.1", Network("HK", "Hong Kong Broadband Network Ltd.")),
        ("116.86.0.1", Network("SG", "Starhub Ltd")),
        ("8.8.8.8", Network("US", "GOOGLE")),
        ("2001:4860:4860::8888", Network("US", "GOOGLE")),  # IPv6 from the same file
        # private, loopback and documentation ranges belong to no provider (the data names
        # IANA as their owner) and no country
        ("10.1.2.3", Network()),
        ("::1", Network()),
        ("192.168.0.10", Network()),
        ("not an ip", Network()),
        (None, Network()),
    ],
)
def test_provider_from_the_shipped_asn_database(ip: str | None, expected: Network) -> None:
    assert network_of(ip) == expected


# addresses lookup answers in each of its ways: found, private, reserved, not found, invalid
# (lookup's own error codes), IPv4 and IPv6, and inet_aton's short forms
_ODD_ADDRESSES = [
    "8.8.8.8",
    "116.86.0.1",
    "10.1.2.3",
    "127.0.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",
    "100.64.0.1",
    "169.254.1.1",
    "192.0.2.1",
    "::1",
    "::",
    "fe80::1",
    "2001:db8::1",
    "2001:4860:4860::8888",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "::ffff:8.8.8.8",
    "1",
    "1.2.3",
    "0x7f.1",
    "not an ip",
    "",
    " 8.8.8.8",
    "8.8.8.8 ",
    "256.1.1.1",
    "1.2.3.4.5",
    "1.0.0.0",
    "223.255.255.255",
]


@examples(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.ip_addresses().map(str),
        st.integers(0, 2**32 - 1).map(
            lambda n: ".".join(str(n >> s & 255) for s in (24, 16, 8, 0))
        ),
        st.sampled_from(_ODD_ADDRESSES),
    ),
    st.booleans(),
)
def test_the_quick_lookup_answers_as_geoip2fast_lookup(ip: str, with_provider: bool) -> None:
    # network_of reads lookup's country code, private flag and AS name without its extras
    # (_found): the same three, or None where lookup answers with an error code
    geo = _geo(with_provider)
    try:
        quick = _found(geo, ip)
    except Exception:  # an invalid address: network_of asks lookup itself
        return
    detail = geo.lookup(ip)
    if quick is None:  # lookup answers with an error code: network_of asks lookup itself
        assert detail.country_code in ("", "--")
    else:
        assert quick == (detail.country_code, detail.is_private, detail.asn_name)


def test_the_quick_lookup_answers_a_listed_address_itself() -> None:
    # not vacuous: the comparison above meets mostly addresses the quick path answers
    for with_provider in (True, False):
        assert _found(_geo(with_provider), "8.8.8.8") is not None
        assert _found(_geo(with_provider), "2001:4860:4860::8888") is not None


def test_without_providers_the_country_only_database_answers() -> None:
    # web.provider_lookup = false: the country-only file, the same countries, no provider
    assert network_of("116.86.0.1", with_provider=False) == Network("SG", None)
    assert network_of("2001:4860:4860::8888", with_provider=False) == Network("US", None)
