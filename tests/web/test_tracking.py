"""The tracking endpoint over ASGI: every request form Matomo trackers use, and refusals."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tally.config import Settings
from tally.server.app import create_app
from tally.server.auth import create_token
from tally.warehouse import Warehouse, connect
from tally.web.loader import load_hits
from tally.web.params import last_value
from tally.web.tracking import PIXEL

FIXTURES = Path(__file__).parent.parent / "fixtures" / "web"
VISITOR = "0123456789abcdef"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


@pytest.fixture
def store(settings: Settings) -> Iterator[Warehouse]:
    warehouse = connect(settings.warehouse_url)
    warehouse.migrate()
    warehouse.execute(
        "INSERT INTO web.sites VALUES (1, 'Shop', 'https://shop.example', "
        "'[\"https://shop.example\"]', 'Asia/Hong_Kong', TIMESTAMP '2026-01-01 00:00:00')"
    )
    yield warehouse
    warehouse.close()


@pytest.fixture
def token(store: Warehouse) -> str:
    return create_token(store, "tests")


@pytest.fixture
def client(settings: Settings, store: Warehouse) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings, warehouse=store, run_loader=False, stream=False)
    ) as test_client:
        yield test_client


def loaded(store: Warehouse, settings: Settings, columns: str) -> list[tuple]:
    load_hits(store, settings)
    return store.rows(f"SELECT {columns} FROM web.hits ORDER BY hit_id")


def track(**params: str) -> str:
    return "/matomo.php?" + urlencode({"idsite": "1", "rec": "1", "_id": VISITOR, **params})


def test_get_answers_a_gif_and_is_stored(client, store, settings) -> None:
    response = client.get(track(url="https://shop.example/", action_name="Home"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content == PIXEL
    assert loaded(store, settings, "kind, url, action_name, visitor_id, transport") == [
        ("pageview", "https://shop.example/", "Home", VISITOR, "get")
    ]


def test_send_image_0_answers_204(client) -> None:
    response = client.get(track(url="https://shop.example/", send_image="0"))
    assert response.status_code == 204 and response.content == b""


def test_beacon_post_with_parameters_in_the_url(client, store, settings) -> None:
    # matomo.js >= 4 sends sendBeacon POSTs whose body is empty and whose URL holds it all.
    response = client.post(
        track(link="https://elsewhere.example/", url="https://shop.example/"),
        headers={"content-type": "text/plain;charset=UTF-8"},
    )
    assert response.status_code == 200
    assert loaded(store, settings, "kind, link_url, transport") == [
        ("outlink", "https://elsewhere.example/", "post")
    ]


def test_form_post_and_url_are_merged(client, store, settings) -> None:
    response = client.post(
        "/piwik.php?idsite=1&rec=1",
        content=urlencode({"_id": VISITOR, "e_c": "Video", "e_a": "Play", "e_v": "2"}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert loaded(store, settings, "kind, event_category, event_action, event_value") == [
        ("event", "Video", "Play", 2.0)
    ]


def test_cors_echoes_the_origin_with_credentials(client) -> None:
    preflight = client.options("/matomo.php", headers={"origin": "https://shop.example"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "POST" in preflight.headers["access-control-allow-methods"]


def test_refusals_name_the_reason_store_nothing_and_are_counted(
    client, store, settings, token
) -> None:
    cases = [
        (track(url="https://shop.example/").replace("idsite=1", "idsite=9"), "idsite"),
        ("/matomo.php?idsite=1&url=https%3A%2F%2Fshop.example%2F", "rec"),
        (track(res="huge"), "res"),
        (track(cip="198.51.100.7"), "cip"),
        (track(cip="198.51.100.7", token_auth="not-a-token"), "cip"),
    ]
    for url, field in cases:
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.json()["status"] == "error"
        assert response.json()["field"] == field
    load_hits(store, settings)
    assert store.rows("SELECT count(*) FROM web.hits") == [(0,)]
    stats = client.get("/api/tracking/stats", headers={"authorization": f"Bearer {token}"})
    assert stats.json()["rejected"] == 5
    assert stats.json()["rejected_by_reason"] == {"idsite": 1, "rec": 1, "res": 1, "cip": 2}
    assert stats.json()["accepted"] == 0


def test_a_valid_token_allows_cip_and_the_token_is_never_stored(
    client, store, settings, token
) -> None:
    response = client.get(track(cip="8.8.4.4", token_auth=token, url="https://shop.example/"))
    assert response.status_code == 200
    ((ip, country, raw),) = loaded(store, settings, "ip, country, raw_query")
    # 8.8.4.4 is Google's, registered in the US; 2 bytes anonymised by default.
    assert (ip, country) == ("8.8.0.0", "US")
    assert token not in raw and "token_auth" not in raw


def test_bulk_tracks_the_valid_requests_and_lists_the_invalid(client, store, settings) -> None:
    body = {
        "requests": [
            "?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2Fa&_id=" + VISITOR,
            "?idsite=1&url=https%3A%2F%2Fshop.example%2Fb",  # no rec
            {"idsite": "1", "rec": "1", "url": "https://shop.example/c", "_id": VISITOR},
        ]
    }
    response = client.post("/matomo.php", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert (answer["tracked"], answer["invalid"], answer["invalid_indices"]) == (2, 1, [1])
    assert loaded(store, settings, "url, transport") == [
        ("https://shop.example/a", "bulk"),
        ("https://shop.example/c", "bulk"),
    ]


def test_a_mobile_sdk_bulk_with_cdt_and_uid_is_accepted(client, store, settings, token) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    old, recent = now - dt.timedelta(days=3), now - dt.timedelta(hours=1)
    text = (FIXTURES / "mobile_sdk_bulk.json").read_text()
    text = text.replace("{OLD}", old.strftime("%Y-%m-%d%%20%H%%3A%M%%3A%S"))
    text = text.replace("{RECENT}", recent.strftime("%Y-%m-%d%%20%H%%3A%M%%3A%S"))
    body = json.loads(text.replace("{TOKEN}", token))
    response = client.post("/matomo.php", json=body)
    assert response.json()["tracked"] == 3, response.json()
    rows = loaded(store, settings, "kind, hit_time, user_id, visitor_id, device_type, os_name")
    assert [row[0] for row in rows] == ["pageview", "event", "search"]
    assert [row[1] for row in rows] == [old, old, recent]
    assert {row[2] for row in rows} == {"member-42"}
    assert {row[3] for row in rows} == {"5f3c2a1b0e9d8c7b"}
    assert rows[0][4:] == ("smartphone", "Android")  # from the ua parameter, not the header


def test_the_same_bulk_without_token_refuses_only_the_old_hits(client, settings, token) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    text = (FIXTURES / "mobile_sdk_bulk.json").read_text()
    text = text.replace("{OLD}", str(int((now - dt.timedelta(days=3)).timestamp())))
    text = text.replace("{RECENT}", str(int((now - dt.timedelta(hours=1)).timestamp())))
    body = json.loads(text.replace("{TOKEN}", ""))
    answer = client.post("/matomo.php", json=body).json()
    assert (answer["tracked"], answer["invalid_indices"]) == (1, [0, 1])
    assert {error["field"] for error in answer["errors"]} == {"cdt"}


def test_bad_bulk_bodies_are_refused(client) -> None:
    assert client.post("/matomo.php", content=b"{oops").json()["field"] == "requests"
    assert client.post("/matomo.php", json={"requests": []}).status_code == 400


def test_headers_give_user_agent_and_language(client, store, settings) -> None:
    client.get(
        track(url="https://shop.example/"),
        headers={"user-agent": CHROME, "accept-language": "zh-HK"},
    )
    assert loaded(store, settings, "browser_name, os_name, device_type, lang") == [
        ("Chrome", "Windows", "desktop", "zh-HK")
    ]


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, monkeypatch) -> None:
    from tally.web import tracking

    monkeypatch.setattr(tracking, "MAX_BODY_BYTES", 100)
    body = json.dumps({"requests": ["?idsite=1&rec=1&url=" + "x" * 200]})
    answer = client.post("/matomo.php", content=body)
    assert answer.status_code == 400 and answer.json()["field"] == "body"


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["send_image", "xsend_image", "a", ""]), st.text("01&=x", max_size=3)
        ),
        max_size=5,
    )
)
def test_last_value_is_the_last_parameter_of_that_name(pairs: list[tuple[str, str]]) -> None:
    raw = "&".join(f"{name}={value}" for name, value in pairs)
    # the reference: the last match of the pattern the endpoint used before (one regex pass)
    found = re.findall(r"(?:^|&)send_image=([^&]*)", raw)
    assert last_value(raw, "send_image") == (found[-1] if found else None)


def test_a_plain_hit_of_a_known_site_logs_what_the_full_check_logs(tmp_path) -> None:
    """The shortcut for plain GETs (quick_site + a cached site) must write the very record
    the full path writes for the same request: same query text, time, peer, agent, flags."""
    import asyncio

    from tally.web.tracking import TrackingEndpoint

    class Recorded:
        def __init__(self) -> None:
            self.payloads: list[bytes] = []

        async def append(self, payloads: list[bytes]) -> list[str]:
            self.payloads += payloads
            return [str(len(self.payloads))]

    sites_asked: list[int] = []

    async def site_exists(idsite: int) -> bool:
        sites_asked.append(idsite)
        return idsite == 1

    async def no_token(_token: str) -> bool:
        return False

    when = dt.datetime(2026, 3, 1, 12, 0, 0, 250000)
    query = urlencode(
        {
            "idsite": "1",
            "rec": "1",
            "_id": VISITOR,
            "url": "https://shop.example/a b",
            "action_name": "Ä",
            "send_image": "0",
        }
    )
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/matomo.php",
        "query_string": query.encode(),
        "client": ("10.0.0.7", 5000),
        "headers": [(b"user-agent", CHROME.encode()), (b"accept-language", b"de")],
    }
    answers: dict[str, list[dict]] = {}

    def run(name: str, site_known) -> bytes:
        log = Recorded()
        endpoint = TrackingEndpoint(
            log,
            site_exists=site_exists,
            token_valid=no_token,
            site_known=site_known,
            clock=lambda: when,
        )
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        asyncio.run(endpoint(scope, receive, send))
        answers[name] = sent
        (payload,) = log.payloads
        return payload

    full = run("full", None)
    assert sites_asked == [1]  # the full path looked the site up
    quick = run("quick", lambda idsite: idsite == 1)
    assert sites_asked == [1]  # the shortcut did not
    assert quick == full
    assert json.loads(quick)["q"] == query and json.loads(quick)["ip"] == "10.0.0.7"
    assert answers["quick"] == answers["full"] and answers["quick"][0]["status"] == 204
    # a site the cache does not know (yet) goes the full way and is looked up
    run("unknown", lambda idsite: False)
    assert sites_asked == [1, 1]


def test_a_bulk_writes_what_the_full_check_writes_for_every_item(monkeypatch) -> None:
    """Bulk items that ``quick_site`` vouches for skip parsing and share the bulk's token
    and tail: the answer, the records and the lookups must be those of the same bulk with
    every item checked in full (quick_site switched off), for good and bad items mixed."""
    import asyncio

    from tally.web import tracking

    requests = [
        "?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2Fa&_id=" + VISITOR,  # quick
        "?idsite=1&url=x",  # no rec
        "?idsite=7&rec=1",  # quick, but no such site
        "idsite=1&rec=1&token_auth=SECRET&cip=8.8.8.8",  # its own token (valid), no "?"
        {"idsite": "1", "rec": "1", "url": "https://shop.example/c", "r": None},
        42,  # not a request at all
        "?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2Fd&h=23",  # quick again
        "?rec=1&idsite=7",  # the unknown site again: asked again (only found ones are kept)
        "?idsite=1&rec=1&cip=1.2.3.4",  # needs the bulk's token
        "?idsite=1&rec=1&url=a%0Ab",  # an encoded control character
        "?idsite=1&rec=1&token_auth=WRONG&cip=1.1.1.1",  # its own token, not valid
    ]
    body = json.dumps({"requests": requests, "token_auth": "BULK"}).encode()

    def run(quick: bool) -> tuple[dict, list[bytes], list[str], list[int]]:
        if not quick:
            monkeypatch.setattr(tracking, "quick_site", lambda text: None)
        tokens_asked: list[str] = []
        sites_asked: list[int] = []
        written: list[bytes] = []

        class Recorded:
            async def append(self, payloads: list[bytes]) -> list[str]:
                written.extend(payloads)
                return [str(number) for number in range(len(payloads))]

        async def site_exists(idsite: int) -> bool:
            sites_asked.append(idsite)
            return idsite == 1

        async def token_valid(token: str) -> bool:
            tokens_asked.append(token)
            return token in ("BULK", "SECRET")

        endpoint = tracking.TrackingEndpoint(
            Recorded(),
            site_exists=site_exists,
            token_valid=token_valid,
            clock=lambda: dt.datetime(2026, 3, 1, 12, 0, 0),
        )
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/matomo.php",
            "query_string": b"",
            "client": ("10.0.0.7", 5000),
            "headers": [(b"user-agent", CHROME.encode())],
        }
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        asyncio.run(endpoint(scope, receive, send))
        assert sent[0]["status"] == 200
        return json.loads(sent[1]["body"]), written, tokens_asked, sites_asked

    answer, written, tokens_asked, sites_asked = run(quick=True)
    assert run(quick=False) == (answer, written, tokens_asked, sites_asked)
    assert (answer["tracked"], answer["invalid_indices"]) == (5, [1, 2, 5, 7, 9, 10])
    fields = [error["field"] for error in answer["errors"]]
    assert fields == ["rec", "idsite", "rec", "idsite", "url", "cip"]
    assert tokens_asked == ["BULK", "SECRET", "WRONG"] and sites_asked == [1, 7, 7]
    records = [json.loads(payload) for payload in written]
    assert [record["auth"] for record in records] == [True] * 5  # BULK, SECRET, BULK...
    assert records[0]["q"] == requests[0][1:] and records[3]["q"] == requests[6][1:]
    assert not any("SECRET" in payload.decode() for payload in written)


def test_hits_answer_cors_without_the_preflight_headers(client) -> None:
    # A hit's answer allows any origin (or echoes its Origin, with credentials); the
    # methods and headers allowed are on the preflight only, where browsers read them.
    plain = client.get(track(url="https://shop.example/", send_image="0"))
    assert plain.headers["access-control-allow-origin"] == "*"
    assert plain.headers["cache-control"] == "no-cache, no-store, must-revalidate"
    assert "access-control-allow-methods" not in plain.headers
    from_page = client.get(
        track(url="https://shop.example/"), headers={"origin": "https://shop.example"}
    )
    assert from_page.headers["access-control-allow-origin"] == "https://shop.example"
    assert from_page.headers["access-control-allow-credentials"] == "true"
    assert from_page.headers["vary"] == "Origin"
    assert from_page.headers["content-type"] == "image/gif"
    assert "access-control-allow-headers" not in from_page.headers
    preflight = client.options("/matomo.php")
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-headers"] == "Content-Type"


def test_plain_hits_keep_each_peer_and_agent_in_their_records(monkeypatch) -> None:
    """A plain GET's record tail (peer, agent, language) is kept per peer and headers:
    each request still gets its own, also when the kept ones are dropped (cache full)."""
    import asyncio

    from tally.web import tracking

    class Recorded:
        def __init__(self) -> None:
            self.payloads: list[bytes] = []

        async def append(self, payloads: list[bytes]) -> list[str]:
            self.payloads += payloads
            return ["0"]

    async def yes(_value: object) -> bool:
        return True

    times = iter(dt.datetime(2026, 3, 1, 12, 0, second) for second in range(10))
    log = Recorded()
    endpoint = tracking.TrackingEndpoint(
        log, site_exists=yes, token_valid=yes, site_known=lambda _s: True, clock=lambda: next(times)
    )
    monkeypatch.setattr(tracking, "TAIL_CACHE_SIZE", 2)

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(_message: dict) -> None:
        return None

    visits = [
        ("10.0.0.1", b"agent A", None),
        ("10.0.0.2", b"agent A", None),
        ("10.0.0.1", b"agent A", None),  # kept from the first
        ("10.0.0.1", b"agent B", b"fr"),  # the third tail: the kept ones are dropped
        ("10.0.0.2", b"agent A", None),
    ]
    for peer, agent, language in visits:
        headers = [(b"user-agent", agent)] + ([(b"accept-language", language)] if language else [])
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/matomo.php",
            "query_string": b"idsite=1&rec=1&r=7",
            "client": (peer, 5000),
            "headers": headers,
        }
        asyncio.run(endpoint(scope, receive, send))
    records = [json.loads(payload) for payload in log.payloads]
    assert [(r["ip"], r["ua"], r["lang"], r["t"]) for r in records] == [
        ("10.0.0.1", "agent A", None, "2026-03-01T12:00:00"),
        ("10.0.0.2", "agent A", None, "2026-03-01T12:00:01"),
        ("10.0.0.1", "agent A", None, "2026-03-01T12:00:02"),
        ("10.0.0.1", "agent B", "fr", "2026-03-01T12:00:03"),
        ("10.0.0.2", "agent A", None, "2026-03-01T12:00:04"),
    ]
    assert all(r["q"] == "idsite=1&rec=1&r=7" and r["via"] == "get" for r in records)
    assert len(endpoint._tails) == 2  # emptied once at the third, then two again
