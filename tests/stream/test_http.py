"""The stream's HTTP routes on a bare Starlette app (the server adds auth in front)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tally.stream.engine import Engine
from tally.stream.http import routes
from tally.stream.rules import parse_rules
from tally.stream.settings import stream_settings


@pytest.fixture
def engine(tmp_path: Path, clock, recorder) -> Engine:
    settings = stream_settings(
        {
            "state_dir": str(tmp_path),
            "route": {"receivers": ["ops"], "group_wait": 0},
            "lake": {"enabled": False},
        }
    )
    rules = parse_rules(
        [
            {
                "name": "busy",
                "type": "threshold",
                "source": "app",
                "aggregate": "count",
                "window": {"size": 10},
                "op": ">=",
                "value": 3,
            },
        ]
    )
    return Engine(settings, rules, clock=clock, notifiers={"ops": recorder})


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(Starlette(routes=routes(engine)))


def test_single_array_and_wrapped_batches_are_accepted(client: TestClient, engine: Engine) -> None:
    now = engine.clock()
    one = {"source": "app", "key": "k", "time": now, "values": {"x": 1}}
    assert client.post("/api/events", json=one).json()["accepted"] == 1
    assert client.post("/api/events", json=[one, one]).json()["accepted"] == 2
    answer = client.post("/api/events", json={"events": [one]})
    assert answer.status_code == 202 and answer.json()["accepted"] == 1
    assert engine.received == 4


def test_bad_events_are_rejected_by_index_and_field_good_ones_kept(client: TestClient) -> None:
    good = {"source": "app", "key": "k", "time": 1_700_000_000}
    answer = client.post(
        "/api/events", json=[good, {"source": "app"}, dict(good, values={"v": "x"})]
    )
    body = answer.json()
    assert answer.status_code == 202 and body["accepted"] == 1 and body["rejected"] == 2
    assert body["errors"][0].startswith("body[1]") and "'key'" in body["errors"][0]
    assert "values.v" in body["errors"][1]
    assert client.post("/api/events", content=b"{nope").status_code == 400
    assert client.post("/api/events", json=[{"source": "app"}]).status_code == 400


def test_alerts_and_silences_api(client: TestClient, engine: Engine, clock) -> None:
    now = clock.now
    events = [{"source": "app", "key": "k", "time": now + i} for i in range(3)]
    events.append({"source": "app", "key": "other", "time": now + 20})  # closes [.., +10)
    client.post("/api/events", json=events)
    engine.tick()
    alerts = client.get("/api/alerts", params={"state": "firing"}).json()["alerts"]
    assert [(a["key"], a["value"], a["muted"]) for a in alerts] == [("k", 3.0, None)]
    made = client.post("/api/silences", json={"matchers": ["key=k"], "duration": "2h"})
    assert made.status_code == 201 and made.json()["ends_at"] == now + 7200
    alerts = client.get("/api/alerts").json()["alerts"]
    assert alerts[0]["muted"] == f"silenced:{made.json()['id']}"
    listed = client.get("/api/silences").json()["silences"]
    assert [s["active"] for s in listed] == [True]
    assert client.delete(f"/api/silences/{made.json()['id']}").status_code == 200
    assert client.get("/api/silences").json()["silences"][0]["active"] is False
    assert client.delete("/api/silences/nope").status_code == 404
    assert client.post("/api/silences", json={"matchers": []}).status_code == 400


def test_rules_can_be_listed_replaced_and_deleted(client: TestClient, engine: Engine) -> None:
    assert [r["name"] for r in client.get("/api/rules").json()["rules"]] == ["busy"]
    answer = client.put("/api/rules/quiet", json={"type": "absence", "source": "app", "for": "1m"})
    assert answer.status_code == 200 and engine.rules["quiet"].spec.for_ == 60
    bad = client.put("/api/rules/x", json={"type": "threshold", "aggregate": "median"})
    assert bad.status_code == 400 and "aggregate" in bad.json()["error"]
    assert client.delete("/api/rules/busy").status_code == 200
    assert list(engine.rules) == ["quiet"]


def test_notifications_log_and_stats(client: TestClient, engine: Engine, clock) -> None:
    events = [{"source": "app", "key": "k", "time": clock.now + i} for i in (0, 1, 2, 15)]
    client.post("/api/events", json=events)
    engine.tick()
    log = client.get("/api/notifications").json()["notifications"]
    assert [(n["receiver"], n["outcome"], n["alerts"]) for n in log] == [
        ("ops", "sent", ["busy/k"])
    ]
    assert client.get("/api/stream/stats").json()["received"] == 4


def test_routes_under_another_prefix(engine: Engine) -> None:
    client = TestClient(Starlette(routes=routes(engine, prefix="")))
    event = {"source": "app", "key": "k", "time": engine.clock()}
    assert client.post("/events", json=event).json()["accepted"] == 1
    assert client.get("/alerts").status_code == 200


def test_event_times_outside_the_window_are_refused_one_by_one(
    client: TestClient, engine: Engine
) -> None:
    now = engine.clock()
    good = {"source": "app", "key": "k", "time": now}
    ahead = dict(good, time=now + 301)  # max_ahead is 300 s by default
    old = dict(good, time=now - 3601)  # max_age is 3600 s by default
    answer = client.post("/api/events", json=[good, ahead, {**good, "time": 1e30}, old])
    body = answer.json()
    assert answer.status_code == 202 and (body["accepted"], body["rejected"]) == (1, 3)
    assert "is 301 s ahead of the engine's clock" in body["errors"][0]
    assert "is 3601 s older than the engine's clock" in body["errors"][2]
    assert engine.stats()["rejected_by_kind"] == {"time_ahead": 2, "time_too_old": 1}
    assert engine.rules["busy"].store.watermark == now  # the good event's time, no further


def test_oversized_or_deeply_nested_bodies_are_refused_before_parsing(
    client: TestClient, engine: Engine
) -> None:
    deep = client.post("/api/events", content=b"[" * 50_000 + b"]" * 50_000)
    assert deep.status_code == 400 and "over the limit of 32" in deep.json()["error"]
    engine.settings.inputs.max_payload_bytes = 1000
    large = client.post("/api/events", content=b" " * 1001)
    assert large.status_code == 413 and "over the limit of 1,000 bytes" in large.json()["error"]
    assert engine.stats()["rejected_by_kind"] == {"payload_too_deep": 1, "payload_too_large": 1}


def test_a_retried_post_counts_its_events_once_by_their_ids(
    client: TestClient, engine: Engine, clock
) -> None:
    now = clock.now
    body = [
        {"source": "app", "key": "k", "time": now, "event_id": "a-1"},
        {"source": "app", "key": "k", "time": now + 1, "event_id": "a-2"},
    ]
    first = client.post("/api/events", json=body).json()
    retry = client.post("/api/events", json=body).json()  # the client lost the first answer
    assert (first["accepted"], first["duplicates"]) == (2, 0)
    assert (retry["accepted"], retry["duplicates"]) == (0, 2)
    client.post("/api/events", json={"source": "app", "key": "other", "time": now + 20})
    engine.tick()
    # k's window holds 2 (busy needs 3): counted twice it would hold 4 and fire
    assert engine.rules["busy"].latest["k"][1] == 2.0 and engine.book.alerts == {}
    stats = client.get("/api/stream/stats").json()
    assert (stats["received"], stats["duplicates"]) == (3, 2)


def test_without_an_id_field_a_retried_post_counts_again(tmp_path: Path, clock) -> None:
    settings = stream_settings(
        {"state_dir": str(tmp_path), "lake": {"enabled": False}, "dedupe": {"field": ""}}
    )
    engine = Engine(settings, [], clock=clock)
    client = TestClient(Starlette(routes=routes(engine)))
    body = {"source": "app", "key": "k", "time": clock.now, "event_id": "a-1"}
    client.post("/api/events", json=body)
    assert client.post("/api/events", json=body).json()["duplicates"] == 0
    assert engine.received == 2
