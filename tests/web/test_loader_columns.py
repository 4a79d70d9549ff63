"""The loader's column-wise path stores, for every hit it accepts, exactly the row the
row-wise path (``_row``: ``parse_hit`` and the enrichment, hit by hit) stores.

Each corpus is prepared twice by ``loader._prepare``: column-wise (plain hits described a
batch at a time) and with ``columnwise=False`` (every record through ``_row``). The two
tables must be equal row by row and field by field, with the same refused records and the
same count of dropped bots. Each corpus also checks that the column-wise path did take
some hits, so an equality that holds because nothing was vouched for fails instead.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tally.config import Settings
from tally.warehouse import Warehouse
from tally.web import loader
from tally.web.demo import records as demo_records
from tally.web.hitlog import Record
from tally.web.sessions import DaySalts
from tally.web.sites import add_site

FIXTURES = Path(__file__).parents[1] / "fixtures" / "web"
RECEIVED = "2026-03-10T12:00:00"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
BOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def store(duckdb_warehouse: Warehouse) -> Warehouse:
    """Sites with each URL setting the loader reads: default rules (1), excluded parameters
    and a search category parameter (2), fragments kept and site search off (3)."""
    add_site(
        duckdb_warehouse,
        "Watch",
        ["https://watch.example.com", "http://com.example.watch"],
        "Asia/Hong_Kong",
    )
    add_site(
        duckdb_warehouse,
        "Shop",
        ["https://shop.example"],
        "Europe/Paris",
        excluded_parameters=["sessionid"],
        search_keyword_parameters=["find"],
        search_category_parameters=["in"],
    )
    add_site(
        duckdb_warehouse,
        "Docs",
        ["https://docs.example"],
        "UTC",
        sitesearch=False,
        keep_url_fragment=True,
    )
    return duckdb_warehouse


def payload(
    query: str,
    *,
    ua: str | None = FIREFOX,
    ip: str | None = "1.1.1.1",
    lang: str | None = "en",
    auth: bool = False,
    received: str = RECEIVED,
) -> bytes:
    """A record as the tracking endpoint writes it."""
    fields = {"q": query, "t": received, "ip": ip, "ua": ua, "lang": lang, "auth": auth}
    fields["via"] = "get"
    return json.dumps(fields).encode()


def both_ways(store: Warehouse, settings: Settings, payloads: list[bytes]) -> int:
    """Prepare the records both ways, assert the same outcome; how many were vouched for."""
    records = [Record(index * 100, body) for index, body in enumerate(payloads)]
    sites, salts = loader._site_rules(store), DaySalts.of(store)
    results = {}
    for columnwise in (True, False):
        batch = loader._prepare(
            records, "0000000001-test.hitlog", settings, sites, salts, columnwise=columnwise
        )
        results[columnwise] = batch
    fast, slow = results[True], results[False]
    fast_rows, slow_rows = fast.table.to_pylist(), slow.table.to_pylist()
    assert len(fast_rows) == len(slow_rows)
    for fast_row, slow_row in zip(fast_rows, slow_rows, strict=True):
        different = {
            name: (fast_row[name], slow_row[name])
            for name in slow_row
            if not same(fast_row[name], slow_row[name])
        }
        assert not different, (slow_row["hit_id"], slow_row["raw_query"], different)
    assert fast.table.schema == slow.table.schema
    assert fast.quarantine == slow.quarantine
    assert fast.bots == slow.bots
    return sum(vouched(body) for body in payloads)


def same(left: Any, right: Any) -> bool:
    """Equal, and of the same type (True is not 1, 1.0 is not 1)."""
    return type(left) is type(right) and left == right


def vouched(body: bytes) -> bool:
    try:
        fields = json.loads(body)
    except ValueError:
        return False
    shape = loader._shape(fields)
    return shape is not None and bool(loader._vouched(loader._Plain.of([(0, fields, shape)]))[0])


def replay_queries() -> Iterator[str]:
    """Every query of the replay fixture: GET and BEACON lines, and each bulk request."""
    for line in (FIXTURES / "replay_requests.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        _, form, body, *_ = (part.strip() for part in line.split(" | "))
        if form == "BULK":
            yield from (request.lstrip("?") for request in json.loads(body)["requests"])
        else:
            yield body.lstrip("?")


def test_the_replay_and_mobile_sdk_fixtures_load_the_same_both_ways(
    store: Warehouse, settings: Settings
) -> None:
    bulk = (FIXTURES / "mobile_sdk_bulk.json").read_text(encoding="utf-8")
    bulk = bulk.replace("{OLD}", "2026-03-07%2012%3A00%3A00").replace(
        "{RECENT}", "2026-03-10%2011%3A00%3A00"
    )
    queries = list(replay_queries()) + [q.lstrip("?") for q in json.loads(bulk)["requests"]]
    payloads = [payload(query, auth=True) for query in queries]
    payloads += [payload(query, ua=IPHONE, ip="2001:db8::7") for query in queries]
    assert both_ways(store, settings, payloads) > 10


def test_the_demo_traffic_loads_the_same_both_ways(store: Warehouse, settings: Settings) -> None:
    day = dt.date(2026, 3, 9)
    payloads = demo_records(1, 7, day, day, visits_per_day=60)
    payloads += demo_records(2, 8, day, day, visits_per_day=20)
    assert both_ways(store, settings, payloads) > 100


# Plain hits that exercise each rule of the column-wise path, and near misses of it.
HAND_WRITTEN = [
    "idsite=1&rec=1&url=https%3A%2F%2Fwatch.example.com%2F",
    "rec=1&idsite=1&url=https://watch.example.com/a#part&urlref=https://www.google.com/search?q=tv",
    "idsite=1&rec=1&url=https%3A%2F%2Fwatch.example.com%2Fsearch%3Fq%3Dgoblin%26search_count%3D3",
    "idsite=2&rec=1&url=https%3A%2F%2Fshop.example%2F%3Ffind%3Dboots%26in%3Dshoes%26sessionid%3D9",
    "idsite=2&rec=1&url=https%3A%2F%2Fshop.example%2F%3Fsessionid%3D9%23top&search=hat",
    "idsite=3&rec=1&url=https%3A%2F%2Fdocs.example%2Fguide%3Fq%3Dx%23install",
    "idsite=1&rec=1&url=https%3A%2F%2Fwatch.example.com%2F%3Fpk_campaign%3DSpring%26pk_kwd%3DTV",
    "idsite=1&rec=1&url=https%3A%2F%2Fwatch.example.com%2F&_rcn=Autumn&_rck=Radio&idgoal=2&revenue=9.5",
    "idsite=1&rec=1&url=https%3A%2F%2Fwatch.example.com%2F&_ref=https%3A%2F%2Fwww.bing.com%2Fsearch%3Fq%3Dx",
    "idsite=1&rec=1&idgoal=0&url=https%3A%2F%2Fwatch.example.com%2Fcart",
    "idsite=1&rec=1&link=https%3A%2F%2Fother.example%2F&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&download=https%3A%2F%2Fwatch.example.com%2Ff.pdf&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&ping=1&url=https%3A%2F%2Fwatch.example.com%2F&pf_net=12&pf_srv=0&pf_onl=",
    "idsite=1&rec=1&ca=1&e_n=+name+&e_v=3.25&dimension1=Gold&dimension12=a%2Bb&dimension3=",
    "idsite=1&rec=1&_id=ABCDEF0123456789&cid=&uid=u%C3%A9&new_visit=1&pv_id=Ab3&res=1x1",
    "idsite=1&rec=1&cid=0123456789abcdef&_id=ffffffffffffffff&h=07&m=0&s=59&lang=fr&ua=Lynx%2F2",
    "idsite=1&rec=1&action_name=A+title%20with%2520percent&search=goblin&search_cat=tv&search_count=4",
    "idsite=1&rec=1&url=a&url=https%3A%2F%2Fwatch.example.com%2Flast&",
    "idsite=1&rec=1&bots=1&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&bots=0&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=9&rec=1&url=https%3A%2F%2Fnowhere.example%2F",
    "idsite=1&rec=1&e_c=Video&e_a=Play&e_n=Goblin&e_v=2&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&e_c=+Video+&e_a=Play%20&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&ping=1&e_c=Video&url=https%3A%2F%2Fwatch.example.com%2F",
    # refused, or not plain
    "idsite=1&rec=1&e_c=+&e_a=Play&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&e_c=Video&e_a=&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&e_a=Play&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&e_c=Video&e_a=Play&e_c=Audio&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&e%5Fc=Video&e_a=Play",
    "idsite=1&rec=1&e_c=Video&e_a=Play&e_v=-1",
    # not plain: cdt, custom variables, token parameters, bad values
    "idsite=1&rec=1&cdt=2026-03-10%2011%3A00%3A00&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&_cvar=%7B%221%22%3A%5B%22a%22%2C%22b%22%5D%7D&url=x",
    "idsite=1&rec=1&cip=8.8.8.8&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&url=https%3A%2F%2Fwatch.example.com%2F%0A",
    "idsite=1&rec=1&_id=nothex&url=x",
    "idsite=1&rec=0&url=x",
    "idsite=0&rec=1",
    "idsite=1&rec=1&pk_campaign=Summer&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&_pks=SKU1&_pkn=Boots&url=https%3A%2F%2Fwatch.example.com%2F",
    "idsite=1&rec=1&dp=1&url=https%3A%2F%2Fwatch.example.com%2F",
]


def test_hand_written_hits_and_near_misses_load_the_same_both_ways(
    store: Warehouse, settings: Settings
) -> None:
    payloads = []
    for query in HAND_WRITTEN:
        for ua, ip in ((FIREFOX, "8.8.8.8"), (BOT, "10.0.0.1"), (None, None), (IPHONE, "::1")):
            payloads.append(payload(query, ua=ua, ip=ip))
    # odd records: not JSON, a list, a missing field, a bad time, a number for an address
    payloads += [
        b"{not json",
        b"[1, 2]",
        json.dumps({"q": "idsite=1&rec=1", "t": RECEIVED}).encode(),
        payload("idsite=1&rec=1&url=x", received="yesterday"),
        json.dumps({"q": "idsite=1&rec=1", "t": RECEIVED, "ip": 7, "auth": False}).encode(),
        payload("idsite=1&rec=1&url=x", lang=None),
        payload("idsite=1&rec=1&url=x", received="2026-03-10T12:00:00+02:00"),
    ]
    settings.web.ip_anonymise_bytes = 1
    assert both_ways(store, settings, payloads) > 40


NAMES = [
    "idsite", "rec", "url", "urlref", "link", "download", "action_name", "uid", "_id", "cid",
    "res", "h", "m", "s", "pv_id", "new_visit", "bots", "search", "search_cat",
    "search_count", "idgoal", "revenue", "e_v", "e_n", "ping", "ca", "lang", "ua", "_ref",
    "_rcn", "_rck", "pf_net", "pf_dm1", "dimension1", "dimension25", "r", "send_image",
    "e_c", "e_a", "cdt", "cip", "pk_campaign", "dp", "_cvar", "country",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(
        [
            "", "0", "1", "2", "07", "23", "24", "59", "60", "3.5", "-1", "1e3", "nan",
            "0123456789abcdef", "0123456789ABCDEF", "1280x720", "Ab9", "x y", "a+b", "%20",
            "%0A", "%zz", "%C3%A9", "%E9", "https%3A%2F%2Fwatch.example.com%2F",
            "https%3A%2F%2Fwatch.example.com%2Fp%3Fq%3Dtv%23frag",
            "https%3A%2F%2Fshop.example%2F%3Ffind%3Dhat%26sessionid%3D1",
            "https%3A%2F%2Fwww.google.com%2Fsearch%3Fq%3Dgoblin",
            "https://watch.example.com/a?utm_campaign=x#y", "  spaced  ",
        ]
    ),
    st.text(alphabet="abc019%+#?/=:.xXAF ", max_size=12),
)  # fmt: skip
QUERIES = st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=12).map(
    lambda pairs: "&".join(f"{name}={value}" for name, value in pairs)
)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    queries=st.lists(
        st.one_of(
            QUERIES.map(lambda query: "idsite=1&rec=1&" + query),
            QUERIES.map(lambda query: query + "&rec=1&idsite=2"),
            QUERIES,
        ),
        min_size=1,
        max_size=8,
    ),
    ua=st.sampled_from([FIREFOX, BOT, IPHONE, None, ""]),
    ip=st.sampled_from(["8.8.8.8", "2001:db8::1", "192.168.1.1", "", None, "nonsense"]),
)
def test_generated_queries_load_the_same_both_ways(
    store: Warehouse, settings: Settings, queries: list[str], ua: str | None, ip: str | None
) -> None:
    both_ways(store, settings, [payload(query, ua=ua, ip=ip) for query in queries])


def test_a_failure_of_the_column_wise_parse_leaves_the_batch_to_the_row_wise_path(
    store: Warehouse, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*arguments: Any) -> None:
        raise RuntimeError("a bug in the column-wise path")

    monkeypatch.setattr(loader, "_plain_columns", broken)
    queries = HAND_WRITTEN[:12]
    records = [Record(index, payload(query)) for index, query in enumerate(queries)]
    sites, salts = loader._site_rules(store), DaySalts.of(store)
    segment = "0000000001-test.hitlog"
    fallen = loader._prepare(records, segment, settings, sites, salts)
    rowwise = loader._prepare(records, segment, settings, sites, salts, columnwise=False)
    # all twelve are valid hits (the first twelve hand-written ones), none a bot
    assert fallen.table.num_rows == 12
    assert fallen.table.to_pylist() == rowwise.table.to_pylist()


FREE = st.text(alphabet="ab AZ+%2019#?=/:.é", max_size=10)
ADDRESSES = st.sampled_from(
    [
        "https%3A%2F%2Fwatch.example.com%2Fp%3Fq%3Dtv%23frag",
        "https%3A%2F%2Fshop.example%2F%3Ffind%3Dhat%26in%3Dhats%26sessionid%3D1",
        "https%3A%2F%2Fwww.google.com%2Fsearch%3Fq%3Dgoblin",
        "https://docs.example/a?utm_campaign=x#y",
        "",
    ]
)
DIGITS = st.integers(0, 99).map(str) | st.just("")
HEX = "0123456789abcdef"
# Values each name accepts in the plain form (e_c/e_a may make an incomplete event: _row's)
PLAIN_VALUES = {
    **{name: ADDRESSES for name in ("url", "urlref", "link", "download", "_ref")},
    **{name: FREE for name in ("action_name", "uid", "search", "search_cat", "lang")},
    **{name: FREE for name in ("e_c", "e_a", "e_n", "_rcn", "_rck", "dimension4", "r")},
    **{name: st.sampled_from([HEX, HEX.upper(), ""]) for name in ("_id", "cid")},
    **{name: DIGITS for name in ("search_count", "idgoal", "pf_net", "pf_onl")},
    "h": st.integers(0, 23).map(str),
    **{name: st.integers(0, 59).map(str) for name in ("m", "s")},
    **{name: st.sampled_from(["", "0", "1"]) for name in ("new_visit", "bots", "ping", "ca")},
    **{name: st.sampled_from(["", "3", "3.25", "10.5"]) for name in ("revenue", "e_v")},
    "res": st.sampled_from(["1280x720", "1x1"]),
    "pv_id": st.sampled_from(["Ab3", "x", ""]),
}  # fmt: skip
PLAIN_QUERIES = st.fixed_dictionaries(
    {"idsite": st.sampled_from(["1", "2", "3"])},
    optional={name: values for name, values in PLAIN_VALUES.items()},
).map(lambda pairs: "rec=1&" + "&".join(f"{name}={value}" for name, value in pairs.items()))


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    queries=st.lists(PLAIN_QUERIES, min_size=4, max_size=10),
    ua=st.sampled_from([FIREFOX, BOT, None]),
    ip=st.sampled_from(["8.8.8.8", "2001:db8::1", None]),
)
def test_generated_plain_queries_load_the_same_both_ways(
    store: Warehouse, settings: Settings, queries: list[str], ua: str | None, ip: str | None
) -> None:
    payloads = [payload(query, ua=ua, ip=ip) for query in queries]
    # every value is in its plain form: only a blank or lone e_c/e_a makes a hit _row's
    assert both_ways(store, settings, payloads) >= 1


def test_the_batch_proof_reads_each_query_as_quick_site_does() -> None:
    """``_quick_sites`` (RE2 over a batch) gives quick_site's answer for each query, an
    event's e_c and e_a aside (their values are checked column by column)."""
    queries = [
        "idsite=4&rec=1&url=x&idsite=9",  # the last site counts, as in parse_query
        "idsite=4&action_name=rec=1",  # rec=1 only inside a value
        "rec=1&url=x",  # no idsite
        "idsite=1&rec=1&e_c=Video&e_a=Play",  # an event
        "idsite=1&rec=1&&url=x",  # an empty part
        "idsite=7&rec=1&url=" + "a" * 8200,  # longer than a value may be
        "idsite=3&rec=1&url=a%0Ab",  # an encoded control character
    ]
    assert loader._quick_sites(queries) == [9, None, None, 1, None, None, None]


def test_a_query_arrow_cannot_hold_sends_the_batch_hit_by_hit() -> None:
    lone = {"q": "idsite=1&rec=1&url=\ud800", "t": RECEIVED, "auth": False}
    fine = {"q": "idsite=1&rec=1", "t": RECEIVED, "auth": False}

    def plain(*records: dict[str, Any]) -> loader._Plain:
        return loader._Plain.of([(n, each, loader._shape(each)) for n, each in enumerate(records)])

    assert loader._vouched(plain(lone, fine)).tolist() == [False, False]
    fine_alone = plain(fine)
    assert loader._vouched(fine_alone).tolist() == [True]
    assert (fine_alone.sites, fine_alone.received) == ([1], [dt.datetime.fromisoformat(RECEIVED)])
