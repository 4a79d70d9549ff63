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


def test_subscribers_journeys_share_a_browser_and_sign_up_with_their_user_id() -> None:
    """Each journey's visits carry one _id; the sign-up visit (on the start day) also has
    uid = the subscriber's user id; earlier visits are anonymous and within 20 days."""
    import json
    from urllib.parse import parse_qs

    from tally.web.demo import journeys

    start, end = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
    signups = [(f"U{n:08d}", "HK", dt.date(2026, 11, 10 + n % 15)) for n in range(200)]
    found: dict[str, list[dict]] = {}
    for record in journeys(1, 7, start, end, signups):
        params = {k: v[0] for k, v in parse_qs(json.loads(record)["q"]).items()}
        found.setdefault(params["_id"], []).append(params)
    users = {p["uid"] for hits in found.values() for p in hits if "uid" in p}
    assert 100 < len(users) < 180  # about 70 % came through the site
    for hits in found.values():
        uids = {p.get("uid") for p in hits} - {None}
        assert len(uids) == 1  # one subscriber per browser, who signs up on it
    assert any(len({p.get("uid") for p in hits}) == 2 for hits in found.values())  # anonymous first
    assert journeys(1, 7, start, end, signups) == journeys(1, 7, start, end, signups)
