"""The Reporting API over HTTP (Starlette's TestClient on a bare app holding ``routes``) and
``call`` across sites: tokens, GET and POST, formats, bulk requests, errors."""

from __future__ import annotations

import datetime as dt
import gc
import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from tests.web.reporting_site import hong_kong, insert_hits, loaded_site

from tally.config import Settings
from tally.errors import NotFoundError
from tally.warehouse import Warehouse
from tally.web.reporting import api
from tally.web.reporting.api import call, routes
from tally.web.reporting.formats import Keyed
from tally.web.sessions import sessionize
from tally.web.sites import add_site

TOKEN = "the-right-token"
DAY = {"module": "API", "idSite": "1", "period": "day", "date": "2026-03-02"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    yield from loaded_site("duckdb", tmp_path_factory)


@pytest.fixture
def client(site: Warehouse, settings: Settings) -> TestClient:
    async def token_valid(token: str) -> bool:
        return token == TOKEN

    return TestClient(Starlette(routes=routes(settings, token_valid, warehouse=site)))


def test_no_token_or_a_wrong_one_is_401(client: TestClient) -> None:
    query = {**DAY, "method": "VisitsSummary.get", "format": "json"}
    missing = client.get("/index.php", params=query)
    assert missing.status_code == 401
    assert missing.json()["result"] == "error"
    wrong = client.get("/index.php", params={**query, "token_auth": "guess"})
    assert wrong.status_code == 401
    posted = client.post("/index.php", data={**query, "token_auth": "guess"})
    assert posted.status_code == 401
    assert "nb_visits" not in missing.text + wrong.text + posted.text


def test_get_post_and_bearer_give_the_same_answer(client: TestClient, site: Warehouse) -> None:
    query = {**DAY, "method": "VisitsSummary.get", "format": "json"}
    expected = call(site, "VisitsSummary.get", query)
    assert isinstance(expected, dict) and expected["nb_visits"] == 4
    by_get = client.get("/index.php", params={**query, "token_auth": TOKEN})
    assert by_get.status_code == 200 and by_get.json() == expected
    # Matomo clients POST the token (and often everything else) as a form
    by_post = client.post(
        "/index.php", params={"module": "API"}, data={**query, "token_auth": TOKEN}
    )
    assert by_post.status_code == 200 and by_post.json() == expected
    bearer = client.get("/index.php", params=query, headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.json() == expected


def test_formats_over_http(client: TestClient) -> None:
    query = {**DAY, "method": "Referrers.getReferrerType", "token_auth": TOKEN}
    # Matomo's default format is XML
    xml = client.get("/index.php", params=query)
    assert xml.headers["content-type"].startswith("text/xml")
    assert "<label>Direct Entry</label>" in xml.text and xml.text.startswith("<?xml")
    # CSV comes as UTF-16LE with a byte-order mark unless convertToUnicode=0
    csv = client.get("/index.php", params={**query, "format": "csv"})
    assert csv.content[:2] == b"\xff\xfe"
    lines = csv.content[2:].decode("utf-16-le").splitlines()
    assert lines[0].startswith("label,nb_visits,nb_uniq_visitors")
    assert lines[1].startswith("Direct Entry,2,1,")
    tsv = client.get("/index.php", params={**query, "format": "tsv", "convertToUnicode": "0"})
    assert tsv.text.splitlines()[1].startswith("Direct Entry\t2\t1\t")
    # filters apply to the HTTP answer too
    limited = client.get(
        "/index.php",
        params={**query, "format": "json", "filter_sort_column": "nb_actions", "filter_limit": "1"},
    )
    assert [row["label"] for row in limited.json()] == ["Direct Entry"]  # 5 actions


def test_bulk_request_answers_each_in_order(client: TestClient) -> None:
    first = urlencode({**DAY, "method": "VisitsSummary.get"})
    second = urlencode({**DAY, "method": "Actions.getPageUrls", "filter_limit": "1"})
    broken = urlencode({**DAY, "method": "Nope.get"})
    form = {
        "module": "API",
        "method": "API.getBulkRequest",
        "format": "json",
        "token_auth": TOKEN,
        "urls[0]": first,
        "urls[1]": second,
        "urls[2]": broken,
    }
    answer = client.post("/index.php", data=form)
    assert answer.status_code == 200
    summary, pages, error = answer.json()
    assert summary["nb_visits"] == 4
    assert [row["label"] for row in pages] == ["/index"]
    assert error["result"] == "error" and "unknown method 'Nope.get'" in error["message"]


def test_errors_name_the_problem(client: TestClient) -> None:
    base = {**DAY, "method": "VisitsSummary.get", "format": "json", "token_auth": TOKEN}
    bad_period = client.get("/index.php", params={**base, "period": "fortnight"})
    assert bad_period.status_code == 400
    assert "period must be one of" in bad_period.json()["message"]
    unknown = client.get("/index.php", params={**base, "idSite": "99"})
    assert unknown.status_code == 404 and "idSite 99" in unknown.json()["message"]
    module = client.get("/index.php", params={**base, "module": "CoreHome"})
    assert module.status_code == 400
    xml = client.get("/index.php", params={**base, "segment": "nope==1", "format": "xml"})
    assert xml.status_code == 400 and "<error message=" in xml.text


def test_several_sites_and_a_site_across_a_dst_change(
    duckdb_warehouse: Warehouse,
) -> None:
    # Site 1 in Hong Kong, site 2 in London, where BST (UTC+1) began on 29 March 2026 at
    # 01:00 UTC. 00:30 UTC on the 29th is 00:30 GMT on the 29th; 23:30 UTC the same day is
    # already 00:30 BST on the 30th, so London's 29th holds one visit and its 30th another.
    add_site(duckdb_warehouse, "Watch", ["https://watch.example.com"], "Asia/Hong_Kong")
    add_site(duckdb_warehouse, "Watch UK", ["https://watch.example.co.uk"], "Europe/London")
    insert_hits(
        duckdb_warehouse,
        [
            {"idsite": 2, "hit_time": dt.datetime(2026, 3, 29, 0, 30), "visitor_id": "A"},
            {"idsite": 2, "hit_time": dt.datetime(2026, 3, 29, 23, 30), "visitor_id": "A"},
            {"idsite": 1, "hit_time": hong_kong("2026-03-29", "12:00"), "visitor_id": "B"},
        ],
    )
    sessionize(duckdb_warehouse)
    query = {"idSite": "2", "period": "day", "date": "2026-03-29,2026-03-30"}
    days = call(duckdb_warehouse, "VisitsSummary.get", query)
    assert isinstance(days, Keyed)
    assert {label: row["nb_visits"] for label, row in days.answers.items()} == {
        "2026-03-29": 1,
        "2026-03-30": 1,
    }
    both = call(
        duckdb_warehouse, "VisitsSummary.get", {**query, "idSite": "all", "date": "2026-03-29"}
    )
    assert isinstance(both, Keyed) and both.key == "idSite"
    assert {site: row["nb_visits"] for site, row in both.answers.items()} == {"1": 1, "2": 1}
    with pytest.raises(NotFoundError):
        call(duckdb_warehouse, "VisitsSummary.get", {**query, "idSite": "1,7"})


def test_json_of_several_periods_is_keyed_by_date(client: TestClient) -> None:
    query = {**DAY, "method": "VisitsSummary.get", "format": "json", "token_auth": TOKEN}
    answer = client.get("/index.php", params={**query, "date": "2026-03-02,2026-03-03"})
    assert json.loads(answer.text).keys() == {"2026-03-02", "2026-03-03"}


def test_a_call_leaves_the_garbage_collector_alone(
    monkeypatch: pytest.MonkeyPatch, site: Warehouse
) -> None:
    """The tracking threads share the server's process: no call switches the collector off
    (it cost ~0.1 CPU s per 1.6M-dict answer to leave it on; benchmarks/gc_bench.py)."""
    seen: list[bool] = []
    real = api._answer

    def watched(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "_answer", watched)
    call(site, "VisitsSummary.get", DAY)
    assert seen == [True] and gc.isenabled()
