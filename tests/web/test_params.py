"""Checking Matomo tracking parameters: what is accepted, what is refused and why."""

from __future__ import annotations

import datetime as dt
import json
import re

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from tally.web.params import (
    QUICK,
    Rejected,
    check_hit,
    parse_cdt,
    parse_hit,
    parse_query,
    quick_pattern_re2,
    quick_site,
)

NOW = dt.datetime(2026, 3, 10, 12, 0, 0)


def hit(authenticated: bool = False, **params: str):
    return parse_hit(
        {"idsite": "1", "rec": "1", **params},
        received_at=NOW,
        authenticated=authenticated,
        peer_ip="203.0.113.9",
        header_ua="HeaderAgent/1.0",
        header_lang="en-GB",
    )


def test_a_plain_pageview_keeps_every_field() -> None:
    found = hit(
        url="https://shop.example/a",
        action_name="A",
        _id="0123456789ABCDEF",
        uid="u-7",
        res="1280x720",
        h="20",
        m="5",
        s="9",
        pv_id="aB3dE6",
        new_visit="1",
    )
    assert found.kind == "pageview"
    assert found.visitor_id == "0123456789abcdef"  # lower-cased
    assert (found.url, found.action_name, found.user_id) == ("https://shop.example/a", "A", "u-7")
    assert (found.resolution, found.local_hour, found.local_minute, found.local_second) == (
        "1280x720",
        20,
        5,
        9,
    )
    assert found.new_visit is True
    assert found.hit_time == NOW  # no cdt: the time the server received it
    # Headers stand in for ua/lang; the peer address is the client IP.
    assert (found.user_agent, found.lang, found.client_ip) == (
        "HeaderAgent/1.0",
        "en-GB",
        "203.0.113.9",
    )


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"ping": "1", "url": "https://s/"}, "ping"),
        ({"e_c": "Video", "e_a": "Play", "e_v": "3.5"}, "event"),
        ({"link": "https://elsewhere.example/"}, "outlink"),
        ({"download": "https://s/file.pdf"}, "download"),
        ({"search": "shoes", "search_cat": "all", "search_count": "4"}, "search"),
        ({"idgoal": "2", "revenue": "9.99"}, "goal"),
        ({"ca": "1"}, "other"),
        ({"url": "https://s/"}, "pageview"),
    ],
)
def test_the_kind_follows_the_parameters(params: dict[str, str], kind: str) -> None:
    assert hit(**params).kind == kind


def test_cid_overrides_id() -> None:
    assert hit(_id="aaaaaaaaaaaaaaaa", cid="bbbbbbbbbbbbbbbb").visitor_id == "bbbbbbbbbbbbbbbb"


def test_custom_variables_dimensions_and_timings_are_json() -> None:
    found = hit(
        _cvar='{"1":["plan","gold"]}', dimension3="blue", dimension12="x", pf_net="12", pf_srv="30"
    )
    assert json.loads(found.custom_variables) == {"visit": {"1": ["plan", "gold"]}}
    assert json.loads(found.dimensions) == {"3": "blue", "12": "x"}
    assert json.loads(found.performance) == {"pf_net": 12, "pf_srv": 30}


def test_custom_variable_entries_matomo_ignores_are_skipped_not_fatal() -> None:
    # slot 0, -2 and 6 (Matomo has 5), a lone value and a list as name are dropped; the rest
    # is trimmed and cut to 200 characters, as Matomo's CustomVariables plugin does
    found = hit(
        _cvar=json.dumps(
            {
                "0": ["a", "b"],
                "-2": ["c", "d"],
                "6": ["e", "f"],
                "3": "only-one",
                "4": [["list"], "x"],
                "1": ["  plan ", "g" * 250],
            }
        )
    )
    assert json.loads(found.custom_variables) == {"visit": {"1": ["plan", "g" * 200]}}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"rec": "0"}, "rec"),
        ({"idsite": "abc"}, "idsite"),
        ({"idsite": "0"}, "idsite"),
        ({"_id": "xyz"}, "_id"),
        ({"res": "big"}, "res"),
        ({"h": "24"}, "h"),
        ({"e_c": "Video"}, "e_a"),
        ({"e_v": "NaN"}, "e_v"),
        ({"_cvar": "{not json"}, "_cvar"),
        ({"_cvar": '["plan"]'}, "_cvar"),
        ({"new_visit": "yes"}, "new_visit"),
        ({"url": "https://s/\x00"}, "url"),
        ({"cdt": "yesterday"}, "cdt"),
        ({"revenue": "1,5"}, "revenue"),
    ],
)
def test_malformed_values_are_refused_naming_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(Rejected) as caught:
        hit(**params)
    assert caught.value.field == field
    # the endpoint's check alone (before anything is acknowledged) refuses the same way
    with pytest.raises(Rejected) as caught:
        check_hit({"idsite": "1", "rec": "1", **params}, received_at=NOW, authenticated=False)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("params", "verdict"),
    [
        # cid is the id used, so a bad _id beside it does not matter, and the reverse fails
        ({"cid": "0123456789abcdef", "_id": "xyz"}, None),
        ({"cid": "xyz", "_id": "0123456789abcdef"}, "cid"),
        # link is the target used; download is only checked without it
        ({"link": "https://a.example/", "download": "bad\x01"}, None),
        ({"download": "bad\x01"}, "download"),
        # a heartbeat ping with only e_c is a ping, not a half event
        ({"ping": "1", "e_c": "Video"}, None),
        ({"h": "23", "m": "59", "s": "0", "pf_net": "12"}, None),
        ({"pf_srv": "-1"}, "pf_srv"),
        ({"search_count": "x"}, "search_count"),
        ({"country": "hk\n"}, "country"),  # a trailing newline is no country code
        ({"url": "u" * 8193}, "url"),
    ],
)
def test_check_hit_agrees_with_parse_hit(params: dict[str, str], verdict: str | None) -> None:
    request = {"idsite": "3", "rec": "1", **params}
    outcomes = []
    for check in (
        lambda: check_hit(request, received_at=NOW, authenticated=True),
        lambda: parse_hit(request, received_at=NOW, authenticated=True).idsite,
    ):
        try:
            outcomes.append(check())
        except Rejected as rejection:
            outcomes.append(rejection.field)
    assert outcomes == [3, 3] if verdict is None else outcomes == [verdict, verdict]


def test_missing_rec_is_refused() -> None:
    with pytest.raises(Rejected, match="rec=1"):
        parse_hit({"idsite": "1"}, received_at=NOW, authenticated=False)


@pytest.mark.parametrize("name", ["cip", "country", "region", "city", "lat", "long"])
def test_location_and_ip_overrides_need_a_token(name: str) -> None:
    value = {"cip": "198.51.100.7", "country": "hk", "lat": "22.3", "long": "114.2"}.get(name, "X")
    with pytest.raises(Rejected, match="token_auth"):
        hit(**{name: value})
    assert hit(authenticated=True, **{name: value}) is not None


def test_authenticated_overrides_are_used() -> None:
    found = hit(True, cip="198.51.100.7", country="hk", city="Kowloon", lat="22.3", long="114.2")
    assert (found.client_ip, found.country, found.city) == ("198.51.100.7", "HK", "Kowloon")
    assert (found.latitude, found.longitude) == (22.3, 114.2)


def test_cdt_within_a_day_needs_no_token_but_older_does() -> None:
    recent = NOW - dt.timedelta(hours=23)
    assert hit(cdt=recent.strftime("%Y-%m-%d %H:%M:%S")).hit_time == recent
    old = NOW - dt.timedelta(hours=25)
    with pytest.raises(Rejected, match="24 hours"):
        hit(cdt=old.strftime("%Y-%m-%d %H:%M:%S"))
    assert hit(True, cdt=old.strftime("%Y-%m-%d %H:%M:%S")).hit_time == old


def test_cdt_in_the_future_is_clamped_to_the_receive_time() -> None:
    assert hit(cdt=(NOW + dt.timedelta(hours=2)).isoformat()).hit_time == NOW


def test_cdt_formats() -> None:
    # 1773144000 s after the epoch is 2026-03-10 12:00:00 UTC (20522 days * 86400 + 43200).
    assert parse_cdt("1773144000") == NOW
    assert parse_cdt("2026-03-10 12:00:00") == NOW
    assert parse_cdt("2026-03-10T20:00:00+08:00") == NOW
    assert parse_cdt("2026-03-10T12:00:00.000Z") == NOW


def test_visit_and_page_custom_variables_keep_their_scopes() -> None:
    # both on one hit: slot 1 of the visit scope and slot 1 of the page scope are different
    found = hit(_cvar='{"1":["plan","gold"]}', cvar='{"1":["section","drama"]}')
    assert json.loads(found.custom_variables) == {
        "visit": {"1": ["plan", "gold"]},
        "page": {"1": ["section", "drama"]},
    }


@pytest.mark.parametrize(
    ("text", "site"),
    [
        ("idsite=3&rec=1&url=https%3A%2F%2Fa.example%2F&h=23&_id=0123456789abcdef", 3),
        ("idsite=1&rec=1&idsite=2", 2),  # the last value counts, as in parse_query
        ("idsite=1&rec=1&h=24", None),  # out of range: check_hit gives the reason
        ("idsite=1&rec=1&url=a%0Ab", None),  # an encoded control character
        ("idsite=1&rec=1&e_c=Video", None),  # events have a two-parameter rule
        ("idsite=1&rec=1&token_auth=x", None),  # a token must be looked up and removed
        ("idsite=1&rec=1&&url=x", None),  # an empty part
        ("idsite=1&url=x", None),  # no rec
    ],
)
def test_quick_site_vouches_only_for_plain_valid_queries(text: str, site: int | None) -> None:
    assert quick_site(text) == site


QUICK_NAMES = ["idsite", "rec", "url", "link", "download", "h", "m", "s", "res", "pv_id", "_id"]
OTHER_NAMES = ["cid", "new_visit", "send_image", "e_v", "idgoal", "pf_net", "action_name", "r"]
VALUES = [
    "",
    "0",
    "1",
    "2",
    "23",
    "24",
    "59",
    "60",
    "-1",
    "x",
    "1920x1080",
    "0123456789abcdef",
    "abc%0a",
    "%1",
    "a%25b",
    "1.5",
    "nan",
    "00",
    "%31",
    "+",
    "a b",
    "9999999999",
]


@examples(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(QUICK_NAMES + OTHER_NAMES + ["cdt", "cip", "%68"]),
            st.sampled_from(VALUES),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_whatever_quick_site_accepts_check_hit_accepts_with_the_same_site(pairs) -> None:
    text = "&".join(f"{name}={value}" for name, value in [("rec", "1"), *pairs])
    site = quick_site(text)
    if site is None:
        return  # not sure: check_hit decides, as for any request
    assert check_hit(parse_query(text), received_at=NOW, authenticated=False) == site


# The quick pattern as it was first written (nested name alternations, capturing groups, a
# three-way control-character check): the faster one must vouch for exactly the same texts.
_OLD_NO_CONTROL = r"(?:[^&%\x00-\x1f]++|%(?![01][0-9A-Fa-f])|%[01](?![0-9A-Fa-f]))*+"
_OLD_PAIRS = "|".join(
    [
        rf"(?:url|urlref|link|download)={_OLD_NO_CONTROL}",
        r"(?:action_name|r|uid|lang|ua|search|search_cat|e_n|ping|ca|rand|apiv|_idts|_idvc"
        r"|_viewts|_idn|_ref|_rcn|_rck|_refts|pdf|qt|realp|wma|fla|java|ag|cookie|dir"
        r"|gears|gt_ms|uadata|pv_ts|dimension[0-9]{1,3})=[^&]*+",
        r"(?:_id|cid)=(?:[0-9a-fA-F]{16})?",
        r"idsite=(?P<site>[1-9][0-9]{0,8})",
        r"(?P<rec>rec=1)",
        r"res=[0-9]{1,5}x[0-9]{1,5}",
        r"h=(?:[01]?[0-9]|2[0-3])",
        r"[ms]=[0-5]?[0-9]",
        r"pv_id=[0-9A-Za-z]{0,64}",
        r"(?:new_visit|bots|send_image)=[01]?",
        r"(?:search_count|idgoal|pf_net|pf_srv|pf_tfr|pf_dm1|pf_dm2|pf_onl)=[0-9]{0,9}",
        r"(?:e_v|revenue)=(?:[0-9]{1,15}(?:\.[0-9]{1,6})?)?",
    ]
)
_OLD_QUICK = re.compile(rf"(?:(?:{_OLD_PAIRS})(?:&|\Z))+")


def _old_quick_site(text: str) -> int | None:
    found = _OLD_QUICK.fullmatch(text) if len(text) <= 8192 else None
    if found is None or found.group("rec") is None or found.group("site") is None:
        return None
    return int(found.group("site"))


ALL_QUICK_NAMES = [
    *QUICK_NAMES,
    *OTHER_NAMES,
    "urlref",
    "dimension12",
    "dimension1234",
    "search_count",
    "revenue",
    "bots",
    "lang",
    "rc",
    "recx",
    "xidsite",
    "ping",
    "token_auth",
]
TRICKY_VALUES = [*VALUES, "%%01", "%0", "%1g", "%1F", "%7e", "a&", "1&rec=1", "=", "1&idsite=7"]


@examples(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(ALL_QUICK_NAMES), st.sampled_from(TRICKY_VALUES)),
        min_size=0,
        max_size=8,
    ),
    st.booleans(),
)
def test_quick_site_vouches_for_what_the_first_pattern_did(pairs, trailing) -> None:
    text = "&".join(f"{name}={value}" for name, value in pairs) + ("&" if trailing else "")
    assert quick_site(text) == _old_quick_site(text)
    with_rec = "rec=1&" + text
    assert quick_site(with_rec) == _old_quick_site(with_rec)


def test_quick_site_reads_the_last_site_and_needs_rec_as_a_pair() -> None:
    assert quick_site("idsite=4&rec=1&url=x&idsite=9") == 9
    assert quick_site("idsite=4&action_name=rec=1") is None  # rec=1 only inside a value
    assert quick_site("rec=1&url=x") is None  # no idsite


# Values around the control-character rule, whose RE2 form is an automaton written by hand:
# runs of "%", "%0"/"%1" followed by a hex digit (refused) or not (kept), at a value's end.
PERCENT_VALUES = ["%", "%%", "%0", "%1", "%0a", "%1F", "%0g", "%%0A", "%0%1", "%1%%1f", "%2", "%0 "]


@examples(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*ALL_QUICK_NAMES, "e_c", "e_a"]),
            st.lists(st.sampled_from([*TRICKY_VALUES, *PERCENT_VALUES]), max_size=3).map("".join),
        ),
        min_size=0,
        max_size=6,
    ),
    st.booleans(),
)
def test_the_re2_form_of_the_quick_pattern_matches_the_same_texts(pairs, trailing) -> None:
    """The loader matches a batch's queries with ``quick_pattern_re2`` (Arrow's RE2): it
    must accept exactly what ``QUICK`` accepts, and with free names, texts whose every
    pair is QUICK's or one of those names at any value."""
    text = "&".join(f"{name}={value}" for name, value in pairs) + ("&" if trailing else "")
    texts = pa.array([text])
    found = pc.match_substring_regex(texts, quick_pattern_re2()).to_pylist()[0]
    assert found == (QUICK.fullmatch(text) is not None)
    with_events = pc.match_substring_regex(texts, quick_pattern_re2(("e_c", "e_a")))
    # QUICK's language with two more names: pairs split at "&" (a value may bring one: an
    # empty part is refused), an optional trailing "&", each an event part or a quick pair
    parts = text.split("&")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    expected = all(
        part.startswith(("e_c=", "e_a=")) or QUICK.fullmatch(part) is not None for part in parts
    )
    assert with_events.to_pylist()[0] == expected


def test_the_re2_form_refuses_an_encoded_control_character_anywhere_in_a_url() -> None:
    pattern = quick_pattern_re2()
    texts = ["url=a%0Ab", "url=%1f", "url=%%01", "url=a%0", "url=%1%2", "url=%0G&rec=1"]
    found = pc.match_substring_regex(pa.array(texts), pattern).to_pylist()
    assert found == [False, False, False, True, True, True]
