"""Provider.getProvider from tracking requests to the report, on both backends.

Each visitor below sends page views to /matomo.php from its own address. The owners of the
public addresses are those the GeoLite2 data bundled with geoip2fast names (looked up by
hand with ``GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz").lookup(ip)``):

  visitor  address               provider                          page views (1 visit each)
  A        203.198.1.1           HKT Limited (HK)                  3
  B        1.64.10.20            HKT Limited (HK)                  1
  C        210.6.0.1             Hong Kong Broadband Network Ltd.  2
  D        116.86.0.1            Starhub Ltd (SG)                  2
  E        2001:4860:4860::8888  GOOGLE (US, IPv6)                 1
  F        10.1.2.3              private network: Unknown          1

The server anonymises the stored address (2 bytes by default: 203.198.0.0), so the lookup
must happen before; that is checked on web.hits.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from starlette.testclient import TestClient

from tally.config import Settings
from tally.server.app import create_app
from tally.server.auth import create_token
from tally.warehouse import Warehouse
from tally.web.loader import load_hits
from tally.web.reporting.api import call
from tally.web.sessions import sessionize
from tally.web.sites import add_site

VISITORS = {
    # visitor id: (address, page views)
    "aaaaaaaaaaaaaaaa": ("203.198.1.1", 3),
    "bbbbbbbbbbbbbbbb": ("1.64.10.20", 1),
    "cccccccccccccccc": ("210.6.0.1", 2),
    "dddddddddddddddd": ("116.86.0.1", 2),
    "eeeeeeeeeeeeeeee": ("2001:4860:4860::8888", 1),
    "ffffffffffffffff": ("10.1.2.3", 1),
}
NOON_HKT = dt.datetime(2026, 3, 2, 4, 0)  # 12:00 in Hong Kong, as naive UTC
DAY = {"idSite": "1", "period": "day", "date": "2026-03-02"}


def track_and_load(warehouse: Warehouse, settings: Settings, **extra: str) -> str:
    """Send every visitor's page views through /matomo.php, load and sessionize them;
    return an API token for the Reporting API."""
    add_site(warehouse, "Watch", ["https://watch.example.com"], "Asia/Hong_Kong")
    token = create_token(warehouse, "provider-test")
    app = create_app(settings, warehouse=warehouse, run_loader=False, stream=False)
    app.tracking.clock = lambda: NOON_HKT
    with TestClient(app):  # runs the app's start-up (the hit log opens) and shut-down
        for visitor, (address, pages) in VISITORS.items():
            # a client's address is the peer address the endpoint sees
            client = TestClient(app, client=(address, 50000))
            for page in range(pages):
                query = {"idsite": "1", "rec": "1", "_id": visitor, **extra}
                query["url"] = f"https://watch.example.com/page/{page}"
                answer = client.get("/matomo.php?" + urlencode(query))
                assert answer.status_code == 200, answer.text
    load_hits(warehouse, settings)
    sessionize(warehouse)
    return token


def test_providers_from_tracking_requests_to_the_report_segments_and_log(
    warehouse: Warehouse, settings: Settings
) -> None:
    token = track_and_load(warehouse, settings)
    app = create_app(settings, warehouse=warehouse, run_loader=False, stream=False)
    with TestClient(app) as client:
        answer = client.get(
            "/index.php?"
            + urlencode(
                {"module": "API", "method": "Provider.getProvider", "format": "json", **DAY}
                | {"token_auth": token}
            )
        )
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    # HKT: A and B, 2 visits, 3 + 1 = 4 actions, A's 3 pages are no bounce, B's 1 page is;
    # the others one visit each; ties ordered by label. Unknown is F's private address.
    assert [(r["label"], r["nb_visits"], r["nb_actions"], r["bounce_count"]) for r in rows] == [
        ("HKT Limited", 2, 4, 1),
        ("GOOGLE", 1, 1, 1),
        ("Hong Kong Broadband Network Ltd.", 1, 2, 0),
        ("Starhub Ltd", 1, 2, 0),
        ("Unknown", 1, 1, 1),
    ]
    assert rows[0]["nb_uniq_visitors"] == 2
    assert rows[0]["segment"] == "provider==HKT%20Limited"
    # the address was looked up whole, then stored anonymised (last two bytes zeroed)
    assert warehouse.rows(
        "SELECT DISTINCT ip, provider, country FROM web.hits WHERE visitor_id = ?",
        ["aaaaaaaaaaaaaaaa"],
    ) == [("203.198.0.0", "HKT Limited", "HK")]
    # segments and the visitor log, on the same visits
    summary = call(warehouse, "VisitsSummary.get", {**DAY, "segment": "provider==Starhub Ltd"})
    assert (summary["nb_visits"], summary["nb_actions"]) == (1, 2)  # D only
    # contains "Hong Kong": C's provider only ("HKT Limited" does not spell it out)
    contains = call(warehouse, "Provider.getProvider", {**DAY, "segment": "provider=@Hong Kong"})
    assert [r["label"] for r in contains] == ["Hong Kong Broadband Network Ltd."]
    # no provider known: F's visit
    unknown = call(warehouse, "VisitsSummary.get", {**DAY, "segment": "provider=="})
    assert unknown["nb_visits"] == 1
    log = call(warehouse, "Live.getLastVisitsDetails", DAY)
    named = {(v["visitorId"], v["provider"], v["providerName"]) for v in log}
    assert ("dddddddddddddddd", "Starhub Ltd", "Starhub Ltd") in named
    assert ("ffffffffffffffff", None, "Unknown") in named


def test_dp_switches_the_provider_off_as_in_matomo(
    duckdb_warehouse: Warehouse, settings: Settings
) -> None:
    track_and_load(duckdb_warehouse, settings, dp="1")
    rows = call(duckdb_warehouse, "Provider.getProvider", DAY)
    # every visit's provider is skipped (6 visits); the country is still looked up: A, B, C
    # are in Hong Kong, 3 + 1 + 2 = 6 hits
    assert [(r["label"], r["nb_visits"]) for r in rows] == [("Unknown", 6)]
    assert duckdb_warehouse.rows("SELECT count(*) FROM web.hits WHERE country = 'HK'") == [(6,)]
