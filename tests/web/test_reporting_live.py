"""Live.getLastVisitsDetails (the visitor log) and the real-time map's visits by place, on
the Flow site of ``reporting_flow_site`` (read its docstring for the visits W0-W4), on DuckDB
and PostgreSQL. Expected values are worked out from that list by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.web.reporting_flow_site import hong_kong, site_fixture, timestamp

from tally.errors import BadInputError
from tally.warehouse import Warehouse
from tally.web.reporting.api import call

DAY = {"idSite": "1", "period": "day", "date": "2026-03-10"}


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def site(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    yield from site_fixture(request)


def test_visitor_log_lists_visits_newest_first_with_their_actions(site: Warehouse) -> None:
    log = call(site, "Live.getLastVisitsDetails", DAY)
    # 10 March: W4 16:00, W3 14:00, W2 10:00, W1 09:00 (W0 is on the 7th)
    assert [(v["visitorId"], v["firstActionTimestamp"]) for v in log] == [
        ("P", timestamp("2026-03-10", "16:00")),
        ("R", timestamp("2026-03-10", "14:00")),
        ("Q", timestamp("2026-03-10", "10:00")),
        ("P", timestamp("2026-03-10", "09:00")),
    ]
    w2 = log[2]
    assert (w2["visitDuration"], w2["actions"], w2["interactions"]) == (300, 4, 2)
    assert (w2["referrerType"], w2["referrerName"], w2["countryCode"], w2["city"]) == (
        "website",
        "news.example.org",
        "sg",
        "Singapore",
    )
    assert (w2["deviceBrand"], w2["deviceModel"], w2["visitLocalHour"]) == (
        "Samsung",
        "Galaxy S23",
        2,
    )
    assert (w2["visitConverted"], w2["goalConversions"]) == (1, 1)
    # Matomo names the device type as its DevicesDetection report does, never lower-case
    assert w2["deviceType"] == "Smartphone"
    # page 10:00 (120 s to the outlink), outlink 10:02 (60 s), page 10:03 (120 s to the
    # event), the event 10:05 (last hit: 0 s), then goal 2 converted by that event
    assert [(a["type"], a.get("url"), a.get("timeSpent")) for a in w2["actionDetails"]] == [
        ("action", "https://flow.example.com/shows", 120),
        ("outlink", "https://www.imdb.com/title/tt1", 60),
        ("action", "https://flow.example.com/watch/1", 120),
        ("event", "https://flow.example.com/watch/1", 0),
        ("goal", None, None),
    ]
    assert w2["actionDetails"][3]["eventAction"] == "Play"
    assert w2["actionDetails"][4]["goalName"] == "Play"
    w1 = log[3]
    # five pages and the search, then goal 1 (10 in revenue) after /signup/done
    kinds = [a["type"] for a in w1["actionDetails"]]
    assert kinds == ["action", "action", "action", "search", "action", "action", "goal"]
    assert w1["actionDetails"][3]["siteSearchKeyword"] == "Drama"  # as typed
    assert (w1["revenue"], w1["actionDetails"][-1]["revenue"]) == (10, 10)


def test_visitor_log_pages_and_min_timestamp(site: Warehouse) -> None:
    page = call(
        site, "Live.getLastVisitsDetails", {**DAY, "filter_limit": "2", "filter_offset": "1"}
    )
    assert [v["visitorId"] for v in page] == ["R", "Q"]  # skip W4, then W3 and W2
    # visits whose last action came after 14:05: W3 (ended 14:11) and W4 (16:00)
    later = {**DAY, "minTimestamp": str(timestamp("2026-03-10", "14:05"))}
    assert [v["visitorId"] for v in call(site, "Live.getLastVisitsDetails", later)] == ["P", "R"]
    # no period: the latest visits of any day, so W0 (7 March) comes last
    every = call(site, "Live.getLastVisitsDetails", {"idSite": "1"})
    assert len(every) == 5 and every[-1]["serverDate"] == "2026-03-07"
    # segments narrow the log like any report
    search = call(site, "Live.getLastVisitsDetails", {**DAY, "segment": "referrerType==search"})
    assert [v["visitorId"] for v in search] == ["R"]
    light = call(site, "Live.getLastVisitsDetails", {**DAY, "doNotFetchActions": "1"})
    assert [v["actionDetails"] for v in light] == [[], [], [], []]
    assert light[0]["actions"] == 1  # the visit's own figures stay
    with pytest.raises(BadInputError, match="filter_limit"):
        call(site, "Live.getLastVisitsDetails", {**DAY, "filter_limit": "ten"})


def test_real_time_map_counts_visits_by_city(site: Warehouse) -> None:
    now = hong_kong("2026-03-10", "16:05")
    # the last 420 minutes start at 09:05: W1 (ended 09:07) to W4 are all still in
    rows = call(
        site, "UserCountryMap.getRealTimeVisits", {"idSite": "1", "lastMinutes": "420"}, now=now
    )
    assert [(r["label"], r["countryCode"], r["nb_visits"], r["nb_actions"]) for r in rows] == [
        ("Hong Kong, HK", "hk", 2, 7),  # W1 (6 actions) and W4 (1)
        ("Kowloon, HK", "hk", 1, 3),  # W3
        ("Singapore, SG", "sg", 1, 4),  # W2
    ]
    assert (rows[0]["latitude"], rows[0]["longitude"]) == (22.28, 114.16)
    # the last 60 minutes (since 15:05): only W4
    hour = call(
        site, "UserCountryMap.getRealTimeVisits", {"idSite": "1", "lastMinutes": "60"}, now=now
    )
    assert [(r["label"], r["nb_visits"]) for r in hour] == [("Hong Kong, HK", 1)]
