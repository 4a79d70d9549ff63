"""The JetStream hit log: a hit is answered only after JetStream stored it, once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tally.config import Settings
from tally.jetstream import Link
from tally.server.app import create_app
from tally.warehouse import Warehouse
from tally.web import sites
from tally.web.hitstream import HitStream, hit_id

pytestmark = pytest.mark.services


def stream_settings(settings: Settings, url: str, **web: object) -> Settings:
    """``settings`` publishing to a stream of its own on ``url``."""
    name = f"T{uuid.uuid4().hex[:10]}"
    changes = {"hit_log_url": url, "hit_stream": name, **web}
    return settings.model_copy(update={"web": settings.web.model_copy(update=changes)})


def stream_messages(url: str, stream: str) -> list[tuple[int, dict[str, object]]]:
    """(sequence, record) of every message in the stream."""

    async def read(link: Link) -> list[tuple[int, dict[str, object]]]:
        js = link.context()
        info = await js.stream_info(stream)
        found = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(stream, sequence)
            found.append((sequence, json.loads(message.data)))
        return found

    link = Link(url, name="test-reader").start()
    try:
        return link.call(read(link), timeout=30)
    finally:
        link.close()


def delete_stream(url: str, stream: str) -> None:
    link = Link(url, name="test-cleanup").start()
    try:
        link.call(link.context().delete_stream(stream), timeout=10)
    except Exception:  # noqa: S110 (not there: nothing to clean)
        pass
    finally:
        link.close()


@pytest.fixture
def js_settings(settings: Settings, nats_url: str) -> Iterator[Settings]:
    configured = stream_settings(settings, nats_url)
    yield configured
    delete_stream(nats_url, configured.web.hit_stream)


def test_append_answers_once_jetstream_stored_each_record(js_settings: Settings) -> None:
    log = HitStream(js_settings.web)
    log.start()
    try:
        ids = asyncio.run(log.append([b'{"q":"a"}', b'{"q":"b"}', b'{"q":"c"}']))
    finally:
        log.close()
    stream = js_settings.web.hit_stream
    assert ids == [hit_id(stream, 1), hit_id(stream, 2), hit_id(stream, 3)]
    messages = stream_messages(js_settings.web.hit_log_url, stream)
    assert [record["q"] for _, record in messages] == ["a", "b", "c"]


def test_a_retried_publish_with_the_same_message_id_is_stored_once(
    js_settings: Settings,
) -> None:
    log = HitStream(js_settings.web)
    log.start()
    try:
        first = log.link.call(log._publish(b'{"q":"x"}', "node-1"), timeout=10)
        again = log.link.call(log._publish(b'{"q":"x"}', "node-1"), timeout=10)
        other = log.link.call(log._publish(b'{"q":"x"}', "node-2"), timeout=10)
    finally:
        log.close()
    # the retry is acknowledged with the first copy's sequence; another id is another hit
    assert (first, again, other) == (
        hit_id(js_settings.web.hit_stream, 1),
        hit_id(js_settings.web.hit_stream, 1),
        hit_id(js_settings.web.hit_stream, 2),
    )
    assert log.duplicates == 1
    assert len(stream_messages(js_settings.web.hit_log_url, js_settings.web.hit_stream)) == 2


def add_site(warehouse: Warehouse) -> None:
    sites.add_site(warehouse, "Shop", ["https://shop.example"], "UTC")


def test_the_tracking_endpoint_publishes_single_and_bulk_hits(
    js_settings: Settings, duckdb_warehouse: Warehouse
) -> None:
    add_site(duckdb_warehouse)
    app = create_app(js_settings, warehouse=duckdb_warehouse, run_loader=False, stream=False)
    bulk = {
        "requests": [
            "?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2Fb1",
            "?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2Fb2",
            "?idsite=99&rec=1",  # unknown site: refused alone, not published
        ]
    }
    with TestClient(app) as client:
        single = client.get("/matomo.php?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2Fs")
        answer = client.post("/matomo.php", json=bulk)
    assert single.status_code == 200 and single.headers["content-type"] == "image/gif"
    assert answer.status_code == 200 and answer.json()["tracked"] == 2
    queries = [
        record["q"]
        for _, record in stream_messages(js_settings.web.hit_log_url, js_settings.web.hit_stream)
    ]
    assert [q.rsplit("%2F", 1)[-1] for q in queries] == ["s", "b1", "b2"]


def test_no_acknowledgement_from_jetstream_answers_503(
    settings: Settings, nats_cluster, duckdb_warehouse: Warehouse
) -> None:
    """All three servers down: the hit waits publish_timeout_seconds, then 503 (the client
    keeps it and sends it again), and nothing claims it was stored."""
    add_site(duckdb_warehouse)
    configured = stream_settings(
        settings, nats_cluster.url, hit_stream_replicas=3, publish_timeout_seconds=1.0
    )
    app = create_app(configured, warehouse=duckdb_warehouse, run_loader=False, stream=False)
    with TestClient(app) as client:
        assert client.get("/matomo.php?idsite=1&rec=1").status_code == 200
        for index in range(3):
            nats_cluster.kill(index)
        refused = client.get("/matomo.php?idsite=1&rec=1")
        stats = app.tracking.stats.as_dict()
    assert refused.status_code == 503
    assert (stats["accepted"], stats["failed_writes"]) == (1, 1)
