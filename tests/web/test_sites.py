"""Sites and goals in the warehouse, on both backends."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tally.errors import BadInputError, NotFoundError
from tally.warehouse import Warehouse
from tally.web.sites import (
    add_goal,
    add_site,
    delete_goal,
    edit_goal,
    edit_site,
    get_site,
    list_goals,
    list_sites,
)


def test_sites_get_consecutive_ids_and_keep_every_url(warehouse: Warehouse) -> None:
    first = add_site(
        warehouse,
        "Watch HK",
        ["https://watch.example.com/", "https://m.watch.example.com", "https://watch.example.com"],
        "Asia/Hong_Kong",
    )
    second = add_site(warehouse, "Watch SG", ["https://sg.watch.example.com"], "Asia/Singapore")
    assert (first.idsite, second.idsite) == (1, 2)
    # trailing slash dropped, duplicates removed, the first URL is the main one
    assert first.urls == ["https://watch.example.com", "https://m.watch.example.com"]
    stored = warehouse.rows("SELECT main_url, urls, timezone FROM web.sites WHERE idsite = 1")
    main_url, urls, timezone = stored[0]
    assert main_url == "https://watch.example.com" and timezone == "Asia/Hong_Kong"
    assert json.loads(urls) == first.urls  # the JSON list the loader reads for referrers
    assert [site.name for site in list_sites(warehouse)] == ["Watch HK", "Watch SG"]
    assert get_site(warehouse, 2).timezone == "Asia/Singapore"


@pytest.mark.parametrize(
    ("name", "urls", "timezone", "field"),
    [
        ("", ["https://a.example"], "UTC", "name"),
        ("A", [], "UTC", "url"),
        ("A", ["ftp://a.example"], "UTC", "url"),
        ("A", ["https://"], "UTC", "url"),
        ("A", ["https://a.example"], "Asia/Atlantis", "timezone"),
    ],
)
def test_bad_sites_are_refused_naming_the_field(
    duckdb_warehouse: Warehouse, name: str, urls: list[str], timezone: str, field: str
) -> None:
    with pytest.raises(BadInputError) as raised:
        add_site(duckdb_warehouse, name, urls, timezone)
    assert raised.value.field == field
    assert list_sites(duckdb_warehouse) == []


def _visit_rows(warehouse: Warehouse) -> None:
    """One placed hit and one visit for site 1, as a sessionize run leaves them."""
    now = dt.datetime(2026, 3, 2, 1, 0)
    warehouse.execute(
        "INSERT INTO web.actions (hit_id, idsite, local_date, idvisit, visitor_key, position, "
        "hit_time, local_time, kind, is_action) VALUES ('s:1', 1, '2026-03-02', 'v1', 'c:x', "
        "1, ?, ?, 'pageview', TRUE)",
        [now, now],
    )
    warehouse.execute(
        "INSERT INTO web.visits (idvisit, idsite, local_date, visitor_key, first_hit_id, "
        "started_at, ended_at, duration_seconds, actions, pageviews, outlinks, downloads, "
        "events, searches, conversions, revenue) VALUES ('v1', 1, '2026-03-02', 'c:x', 's:1', "
        "?, ?, 0, 1, 1, 0, 0, 0, 0, 0, 0)",
        [now, now],
    )


def test_a_time_zone_change_drops_the_sites_visits_for_rebuilding(warehouse: Warehouse) -> None:
    add_site(warehouse, "Watch", ["https://watch.example.com"], "Asia/Hong_Kong")
    _visit_rows(warehouse)
    edit_site(warehouse, 1, name="Watch HK")  # a name change leaves visits alone
    assert warehouse.rows("SELECT count(*) FROM web.visits") == [(1,)]
    changed = edit_site(warehouse, 1, timezone="Asia/Singapore", urls=["https://w.example"])
    assert (changed.name, changed.timezone, changed.urls) == (
        "Watch HK",
        "Asia/Singapore",
        ["https://w.example"],
    )
    assert warehouse.rows("SELECT count(*) FROM web.visits") == [(0,)]
    assert warehouse.rows("SELECT count(*) FROM web.actions") == [(0,)]
    with pytest.raises(NotFoundError):
        edit_site(warehouse, 7, name="nobody")


def test_goals_are_numbered_per_site_edited_and_deleted(warehouse: Warehouse) -> None:
    add_site(warehouse, "Watch", ["https://watch.example.com"], "UTC")
    add_site(warehouse, "App", ["http://com.example.watch"], "UTC")
    add_goal(warehouse, 1, "Thanks", "url", "contains", "/thanks", revenue=8.5)
    add_goal(warehouse, 1, "Bought", "manual", "regex", "ignored for manual goals")
    add_goal(warehouse, 2, "Played", "event_action", "exact", "Play", case_sensitive=True)
    goals = list_goals(warehouse)
    assert [(g.idsite, g.idgoal, g.name) for g in goals] == [
        (1, 1, "Thanks"),
        (1, 2, "Bought"),
        (2, 1, "Played"),
    ]
    assert (goals[1].pattern_type, goals[1].pattern) == (None, None)  # manual has no rule
    assert goals[2].case_sensitive and not goals[0].case_sensitive
    _visit_rows(warehouse)
    edited = edit_goal(warehouse, 1, 1, pattern="/welcome", revenue=9.0)
    assert (edited.pattern, edited.revenue, edited.name) == ("/welcome", 9.0, "Thanks")
    assert list_goals(warehouse, 1)[0].pattern == "/welcome"
    # past visits may convert differently now: they are dropped, to be rebuilt
    assert warehouse.rows("SELECT count(*) FROM web.visits") == [(0,)]
    delete_goal(warehouse, 1, 2)
    assert [g.idgoal for g in list_goals(warehouse, 1)] == [1]
    with pytest.raises(NotFoundError):
        delete_goal(warehouse, 1, 2)


@pytest.mark.parametrize(
    ("match", "pattern_type", "pattern", "field"),
    [
        ("page_title", "contains", "x", "match"),
        ("url", "fuzzy", "x", "pattern_type"),
        ("url", "contains", "", "pattern"),
        ("url", "regex", "([", "pattern"),
    ],
)
def test_bad_goals_are_refused_naming_the_field(
    duckdb_warehouse: Warehouse, match: str, pattern_type: str, pattern: str, field: str
) -> None:
    add_site(duckdb_warehouse, "Watch", ["https://watch.example.com"], "UTC")
    with pytest.raises(BadInputError) as raised:
        add_goal(duckdb_warehouse, 1, "Goal", match, pattern_type, pattern)
    assert raised.value.field == field
    assert list_goals(duckdb_warehouse) == []


def test_goals_need_an_existing_site_and_known_fields(duckdb_warehouse: Warehouse) -> None:
    with pytest.raises(NotFoundError):
        add_goal(duckdb_warehouse, 3, "Goal", "manual")
    add_site(duckdb_warehouse, "Watch", ["https://watch.example.com"], "UTC")
    add_goal(duckdb_warehouse, 1, "Goal", "manual")
    with pytest.raises(BadInputError) as raised:
        edit_goal(duckdb_warehouse, 1, 1, colour="red")
    assert raised.value.field == "colour"


def test_matomo_url_settings_of_a_site(warehouse: Warehouse) -> None:
    """Excluded parameters and site search parameters (Matomo's SitesManager settings)."""
    plain = add_site(warehouse, "Plain", ["https://plain.example"], "UTC")
    assert (plain.sitesearch, plain.excluded_parameters) == (True, [])
    assert plain.keyword_parameters[:2] == ["q", "query"]  # Matomo's defaults
    shop = add_site(
        warehouse,
        "Shop",
        ["https://shop.example"],
        "UTC",
        excluded_parameters=["sessiontoken", "a, b", "a"],
        search_category_parameters=["cat"],
    )
    assert get_site(warehouse, shop.idsite).excluded_parameters == ["sessiontoken", "a", "b"]
    assert get_site(warehouse, shop.idsite).search_category_parameters == ["cat"]
    edit_site(warehouse, shop.idsite, sitesearch=False, search_keyword_parameters=["term"])
    changed = get_site(warehouse, shop.idsite)
    assert (changed.sitesearch, changed.keyword_parameters) == (False, ["term"])
    assert changed.excluded_parameters == ["sessiontoken", "a", "b"]  # not given: kept
    edit_site(warehouse, shop.idsite, excluded_parameters=[""], sitesearch=True)
    assert get_site(warehouse, shop.idsite).excluded_parameters == []
    with pytest.raises(BadInputError, match="not a URL parameter name"):
        edit_site(warehouse, shop.idsite, excluded_parameters=["a=b"])
