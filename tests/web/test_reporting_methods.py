"""Each Reporting API method against the hand-made site of ``reporting_site`` (read its
docstring for the five visits), on DuckDB and on PostgreSQL. Every expected number below is
worked out from that list by hand, with the reasoning beside it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from tests.web.reporting_site import BACKENDS, hong_kong, loaded_site

from tally.errors import BadInputError
from tally.warehouse import Warehouse
from tally.web.reporting.api import call
from tally.web.reporting.methods import METHODS, percent, rounded

DAY = {"idSite": "1", "period": "day", "date": "2026-03-02"}


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    for store in loaded_site(request.param, tmp_path_factory):
        with store.session():  # one connection for the module's many calls
            yield store


def test_visits_summary_of_a_day(site: Warehouse) -> None:
    assert call(site, "VisitsSummary.get", DAY) == {
        "nb_visits": 4,  # V1-V4
        "nb_uniq_visitors": 3,  # A (V1 and V4), B, C
        "nb_users": 1,  # only C is logged in (u-42)
        "nb_actions": 10,  # 4 + 1 (the ping is not an action) + 4 + 1
        "nb_visits_converted": 0,
        "bounce_count": 2,  # V2 and V4 have one action each
        "bounce_rate": "50%",  # 2 of 4
        "sum_visit_length": 1620,  # 360 + 60 + 1200 + 0
        "avg_time_on_site": 405,  # 1620 / 4
        "nb_actions_per_visit": 2.5,  # 10 / 4
        "max_actions": 4,  # V1 and V3
    }


def test_visits_summary_of_the_iso_week_and_of_several_days(site: Warehouse) -> None:
    # Monday 2 to Sunday 8 March holds V1-V5: V5 adds 1 visit, visitor D, 3 actions, 360 s.
    week = call(site, "VisitsSummary.get", {**DAY, "period": "week", "date": "2026-03-04"})
    assert isinstance(week, dict)
    assert (week["nb_visits"], week["nb_uniq_visitors"], week["nb_actions"]) == (5, 4, 13)
    assert week["bounce_rate"] == "40%"  # 2 of 5
    assert week["avg_time_on_site"] == 396  # (1620 + 360) / 5
    assert week["nb_actions_per_visit"] == 2.6  # 13 / 5
    # D1,D2 with period=day: one answer per day, keyed by date; an empty day is all zeros.
    days = call(site, "VisitsSummary.get", {**DAY, "date": "2026-03-01,2026-03-03"})
    visits = {label: report["nb_visits"] for label, report in days.answers.items()}
    assert visits == {"2026-03-01": 0, "2026-03-02": 4, "2026-03-03": 1}
    assert days.answers["2026-03-01"]["bounce_rate"] == "0%"


def test_page_urls_fold_hosts_and_fragments_and_time_each_page(site: Warehouse) -> None:
    rows = {row["label"]: row for row in call(site, "Actions.getPageUrls", DAY)}
    assert list(rows) == ["/index", "/shows?genre=drama", "/watch/1"]
    home = rows["/index"]  # "/" (V1 09:00), "/#top" (V1 09:05), "/" (V3 11:00)
    assert (home["nb_hits"], home["nb_visits"]) == (3, 2)
    # time until the visit's next hit: 09:00→09:02 120 s, 09:05→09:06 outlink 60 s,
    # 11:00→11:03 180 s: 360 s over 3 views = 120 s each
    assert (home["sum_time_spent"], home["avg_time_on_page"]) == (360, 120)
    # entered V1 and V3, neither bounced; V1 left from /#top, V3 from /watch/1
    assert (home["entry_nb_visits"], home["entry_bounce_count"], home["exit_nb_visits"]) == (
        2,
        0,
        1,
    )
    assert (home["bounce_rate"], home["exit_rate"]) == ("0%", "50%")
    shows = rows["/shows?genre=drama"]  # V1 09:02 (180 s to 09:05), V2 10:00 (60 s to the ping)
    assert (shows["nb_hits"], shows["sum_time_spent"], shows["avg_time_on_page"]) == (2, 240, 120)
    assert (shows["bounce_rate"], shows["exit_rate"]) == ("100%", "50%")  # V2 bounced there
    # V3 11:03: 420 s to the event and 600 more to the download (Matomo credits a page with
    # the actions after it up to the next page); V4 on the m. host (0 s)
    watch = rows["/watch/1"]
    assert (watch["nb_visits"], watch["sum_time_spent"], watch["avg_time_on_page"]) == (
        2,
        1020,
        510,
    )
    assert (watch["entry_nb_visits"], watch["exit_nb_visits"], watch["exit_rate"]) == (1, 2, "100%")


def test_referrer_types_websites_devices_and_countries(site: Warehouse) -> None:
    types = call(site, "Referrers.getReferrerType", DAY)
    # direct: V1 + V4 (visitor A, 4 + 1 actions, 360 s, V4 bounced); search: V3; website: V2
    assert [(r["label"], r["nb_visits"], r["nb_uniq_visitors"]) for r in types] == [
        ("Direct Entry", 2, 1),
        ("Search Engines", 1, 1),
        ("Websites", 1, 1),
    ]
    direct = types[0]
    assert (direct["nb_actions"], direct["sum_visit_length"], direct["bounce_count"]) == (5, 360, 1)
    assert direct["segment"] == "referrerType==direct"
    websites = call(site, "Referrers.getWebsites", DAY)
    assert [(r["label"], r["nb_visits"], r["bounce_count"]) for r in websites] == [
        ("news.example.org", 1, 1)
    ]
    devices = call(site, "DevicesDetection.getType", DAY)
    # desktop: V1, V4 (5 actions); smartphone: V2, V3 (1 + 4 actions, 60 + 1200 s)
    assert [(r["label"], r["nb_visits"], r["nb_actions"]) for r in devices[:2]] == [
        ("Desktop", 2, 5),
        ("Smartphone", 2, 5),
    ]
    # then Matomo's twelve other types, with no visits
    assert len(devices) == 14
    assert {r["nb_visits"] for r in devices[2:]} == {0}
    assert devices[2]["label"] == "Tablet"
    assert devices[1]["sum_visit_length"] == 1260
    countries = call(site, "UserCountry.getCountry", DAY)
    assert [(r["label"], r["code"], r["nb_visits"]) for r in countries] == [
        ("HK", "hk", 3),  # V1, V3, V4
        ("SG", "sg", 1),  # V2
    ]
    # V5 (3 March) has no country: Matomo's "xx"
    week = call(site, "UserCountry.getCountry", {**DAY, "period": "week"})
    assert [(r["label"], r["code"]) for r in week][-1] == ("Unknown", "xx")


def test_events_outlinks_and_downloads(site: Warehouse) -> None:
    assert call(site, "Events.getCategory", DAY) == [
        {
            "label": "Video",
            "nb_visits": 1,
            "nb_events": 1,
            "nb_events_with_value": 1,
            "sum_event_value": 12.5,
            "min_event_value": 12.5,
            "max_event_value": 12.5,
            "avg_event_value": 12.5,
            "segment": "eventCategory==Video",
        }
    ]
    # The week adds V5's Play without a value: 2 events in 2 visits, still one with a value,
    # so the average stays 12.5 (Matomo averages over events that carry a value).
    week = call(site, "Events.getCategory", {**DAY, "period": "week"})
    assert (week[0]["nb_events"], week[0]["nb_visits"], week[0]["avg_event_value"]) == (2, 2, 12.5)
    assert [(r["label"], r["nb_hits"]) for r in call(site, "Actions.getOutlinks", DAY)] == [
        ("www.imdb.com", 1)
    ]
    flat = call(site, "Actions.getDownloads", {**DAY, "flat": "1"})
    assert [(r["label"], r["nb_visits"]) for r in flat] == [
        ("https://cdn.example.com/guide.pdf", 1)
    ]


def test_live_counters_of_the_last_minutes(site: Warehouse) -> None:
    now = hong_kong("2026-03-02", "14:10")
    # 30 minutes: only V4 (14:00) was active after 13:40
    assert call(site, "Live.getCounters", {"idSite": "1", "lastMinutes": "30"}, now=now) == [
        {"visits": 1, "actions": 1, "visitors": 1, "visitsConverted": 0}
    ]
    # 240 minutes (since 10:10): V3 (ended 11:20, 4 actions after 10:10) and V4; V2 ended 10:01
    assert call(site, "Live.getCounters", {"idSite": "1", "lastMinutes": "240"}, now=now) == [
        {"visits": 2, "actions": 5, "visitors": 2, "visitsConverted": 0}
    ]
    with pytest.raises(BadInputError, match="lastMinutes"):
        call(site, "Live.getCounters", {"idSite": "1"}, now=now)


def test_segment_narrows_an_action_report(site: Warehouse) -> None:
    # Only V3 came from a search engine: its pages are / and /watch/1, once each.
    rows = call(site, "Actions.getPageUrls", {**DAY, "segment": "referrerType==search"})
    assert [(r["label"], r["nb_hits"]) for r in rows] == [("/index", 1), ("/watch/1", 1)]
    # V3 entered on / and left from /watch/1; the segment keeps its own entries and exits
    assert [(r["entry_nb_visits"], r["exit_nb_visits"]) for r in rows] == [(1, 0), (0, 1)]
    # Events and links follow their visits too: direct visits (V1, V4) played nothing,
    # smartphones (V2, V3) clicked no outlink; in the week, campaign "spring" is V5's Play.
    assert call(site, "Events.getCategory", {**DAY, "segment": "referrerType==direct"}) == []
    assert call(site, "Actions.getOutlinks", {**DAY, "segment": "deviceType==smartphone"}) == []
    week = {**DAY, "period": "week", "segment": "campaignName==spring"}
    assert [(r["label"], r["nb_events"]) for r in call(site, "Events.getCategory", week)] == [
        ("Video", 1)
    ]


def test_every_registered_method_answers_on_an_empty_period(site: Warehouse) -> None:
    empty = {"idSite": "1", "period": "day", "date": "2025-01-01", "lastMinutes": "5"}
    empty["pageUrl"] = "https://watch.example.com/"  # Transitions needs a page
    empty["idDimension"] = "1"  # CustomDimensions needs a dimension
    for name in METHODS:
        answer = call(site, name, empty, now=dt.datetime(2025, 1, 1, 12, 0))
        rows = [answer] if isinstance(answer, dict) else answer
        assert isinstance(rows, list), name
        # nothing happened: no rows, or rows of zeros (Live counters, the seven weekdays)
        for row in rows:
            count = row.get("nb_visits", row.get("visits", row.get("pageMetrics")))
            if isinstance(count, dict):  # Transitions: the page's figures
                count = count["pageviews"]
            assert count == 0, name


def test_search_engines_keywords_campaigns_and_socials(site: Warehouse) -> None:
    engines = call(site, "Referrers.getSearchEngines", DAY)
    assert [(r["label"], r["nb_visits"], r["segment"]) for r in engines] == [
        ("Google", 1, "referrerType==search;referrerName==Google")  # V3
    ]
    keywords = call(site, "Referrers.getKeywords", DAY)
    assert [(r["label"], r["segment"]) for r in keywords] == [
        ("drama series", "referrerType==search;referrerKeyword==drama%20series")
    ]
    assert call(site, "Referrers.getCampaigns", DAY) == []  # V5 came on the 3rd
    week = {**DAY, "period": "week"}
    spring = call(site, "Referrers.getCampaigns", week)
    assert [(r["label"], r["nb_visits"], r["nb_actions"]) for r in spring] == [("spring", 1, 3)]
    assert call(site, "Referrers.getSocials", week) == []
    # campaign names compare case-insensitively, as Matomo lower-cases them
    summary = call(site, "VisitsSummary.get", {**week, "segment": "campaignName==SPRING"})
    assert summary["nb_visits"] == 1


def test_page_titles_entry_and_exit_pages(site: Warehouse) -> None:
    titles = call(site, "Actions.getPageTitles", DAY)
    # Home: V1 09:00 and 09:05, V3 11:00 (120 + 60 + 180 s); entered by V1 and V3, left by V1.
    # Shows: V1, V2 (180 + 60 s); Episode 1: V3, V4 (420 + 600 + 0 s), the exit of both.
    assert [
        (r["label"], r["nb_hits"], r["nb_visits"], r["sum_time_spent"], r["exit_nb_visits"])
        for r in titles
    ] == [("Home", 3, 2, 360, 1), ("Episode 1", 2, 2, 1020, 2), ("Shows", 2, 2, 240, 1)]
    assert titles[0]["segment"] == "pageTitle==Home" and "url" not in titles[0]
    entries = call(site, "Actions.getEntryPageUrls", DAY)
    # / opened V1 (4 actions, 360 s) and V3 (4 actions, 1200 s); the others opened bounces
    assert [
        (r["label"], r["entry_nb_visits"], r["entry_nb_actions"], r["entry_sum_visit_length"],
         r["entry_bounce_count"], r["bounce_rate"])
        for r in entries
    ] == [
        ("/index", 2, 8, 1560, 0, "0%"),
        ("/shows?genre=drama", 1, 1, 60, 1, "100%"),
        ("/watch/1", 1, 1, 0, 1, "100%"),
    ]  # fmt: skip
    exits = call(site, "Actions.getExitPageUrls", DAY)
    # V3 and V4 both ended on /watch/1 (2 of its 2 visits); V1 on /#top, V2 on /shows
    assert [(r["label"], r["exit_nb_visits"], r["exit_rate"]) for r in exits] == [
        ("/watch/1", 2, "100%"),
        ("/index", 1, "50%"),
        ("/shows?genre=drama", 1, "50%"),
    ]


def test_event_actions_and_names(site: Warehouse) -> None:
    actions = call(site, "Events.getAction", {**DAY, "period": "week"})
    # V3's Play (12.5) on the 2nd and V5's Play (no value) on the 3rd
    assert [
        (r["label"], r["nb_events"], r["nb_visits"], r["sum_event_value"]) for r in actions
    ] == [("Play", 2, 2, 12.5)]
    names = call(site, "Events.getName", DAY)
    assert [(r["label"], r["nb_events"]) for r in names] == [("Event Name not defined", 1)]


def test_visits_by_day_of_week(site: Warehouse) -> None:
    week = call(site, "VisitTime.getByDayOfWeek", {**DAY, "period": "week"})
    assert [row["label"] for row in week] == [
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
    ]  # fmt: skip
    # Monday 2 March: V1-V4 (10 actions, 1620 s, 2 bounces); Tuesday 3 March: V5
    counts = [
        (r["nb_visits"], r["nb_actions"], r["sum_visit_length"], r["bounce_count"]) for r in week
    ]
    zero = (0, 0, 0, 0)
    assert counts == [(4, 10, 1620, 2), (1, 3, 360, 0), zero, zero, zero, zero, zero]
    assert [row["day_of_week"] for row in week] == [1, 2, 3, 4, 5, 6, 7]


def test_rounding_is_phps_half_away_from_zero() -> None:
    assert rounded(2.5) == 3 and rounded(0.125, 2) == 0.13  # Python's round gives 2 and 0.12
    assert percent(1, 3) == "33%" and percent(0, 0) == "0%"
