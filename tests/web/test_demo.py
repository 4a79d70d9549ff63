"""Demo traffic: deterministic, realistic, and loaded through the real hit log and loader."""

import datetime as dt
import json
from urllib.parse import parse_qs

from tally.web.demo import IPS, USER_AGENTS, generate_traffic, records
from tally.web.enrich import country_of

DAY = dt.date(2026, 11, 2)


def test_demo_addresses_are_in_their_countries():
    for country, addresses in IPS.items():
        assert {country_of(ip) for ip in addresses} == {country}


def test_records_are_deterministic_and_speak_matomo():
    first = records(1, 5, DAY, DAY, visits_per_day=50)
    assert first == records(1, 5, DAY, DAY, visits_per_day=50)
    assert first != records(1, 6, DAY, DAY, visits_per_day=50)
    queries = [parse_qs(json.loads(r)["q"]) for r in first]
    assert all(
        q["idsite"] == ["1"] and q["rec"] == ["1"] and len(q["_id"][0]) == 16 for q in queries
    )
    assert any("link" in q for q in queries) and any("e_c" in q for q in queries)
    assert not any(q.get("link", [""])[0].startswith("mailto:") for q in queries)


def test_generated_traffic_lands_once_in_hits_and_visits(duckdb_warehouse, settings):
    traffic = generate_traffic(duckdb_warehouse, settings, 3, DAY, DAY, visits_per_day=40)
    bots = sum(1 for r in records(1, 3, DAY, DAY, 40) if json.loads(r)["ua"] == USER_AGENTS[-1])
    assert traffic.loaded.bots_dropped == bots
    hits = duckdb_warehouse.rows("SELECT count(*) FROM web.hits")[0][0]
    assert hits == traffic.requests - bots
    assert traffic.sessions.visits > 0
    again = generate_traffic(duckdb_warehouse, settings, 3, DAY, DAY, visits_per_day=40)
    assert again.requests == 0
    assert duckdb_warehouse.rows("SELECT count(*) FROM web.hits")[0][0] == hits
