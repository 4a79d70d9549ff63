"""Loading the JetStream hit stream: every record into web.hits once, whatever is redelivered."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import pytest
from tests.web.test_hitstream import delete_stream, stream_settings

from tally.config import Settings
from tally.warehouse import Warehouse
from tally.web import sites
from tally.web.hitstream import HitStream, hit_id
from tally.web.streamload import Message, StreamLoader, commit, load_until

pytestmark = pytest.mark.services

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
BOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"


def record(path: str, ua: str = FIREFOX) -> bytes:
    """A record as the tracking endpoint publishes it."""
    query = f"idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2F{path}"
    fields = {"q": query, "t": "2026-03-10T12:00:00", "ip": "1.1.1.1", "ua": ua}
    return json.dumps({**fields, "lang": "en", "auth": False, "via": "get"}).encode()


@pytest.fixture
def js_settings(settings: Settings, nats_url: str) -> Iterator[Settings]:
    configured = stream_settings(settings, nats_url, load_batch_records=100)
    yield configured
    delete_stream(nats_url, configured.web.hit_stream)


def publish(settings: Settings, payloads: list[bytes]) -> list[str]:
    log = HitStream(settings.web)
    log.start()
    try:
        return asyncio.run(log.append(payloads))
    finally:
        log.close()


def stored(warehouse: Warehouse) -> list[tuple[str, str]]:
    return [
        (row[0], row[1].rsplit("/", 1)[-1])
        for row in warehouse.rows("SELECT hit_id, url FROM web.hits ORDER BY hit_id")
    ]


def test_the_loader_stores_each_hit_under_its_stream_sequence(
    js_settings: Settings, warehouse: Warehouse
) -> None:
    publish(js_settings, [record("a"), record("bot", BOT), b"not json", record("b")])
    loader = StreamLoader(warehouse, js_settings).start()
    try:
        first = loader.load()
        again = loader.load()
    finally:
        loader.close()
    stream = js_settings.web.hit_stream
    # 4 messages: two rows, one bot hit dropped, one record quarantined with its sequence
    assert (first.fetched, first.loaded, first.bots_dropped, first.quarantined) == (4, 2, 1, 1)
    assert again.fetched == 0  # acknowledged: never delivered again
    assert stored(warehouse) == [(hit_id(stream, 1), "a"), (hit_id(stream, 4), "b")]
    bad = warehouse.rows("SELECT file, line FROM tally_meta.quarantine WHERE source = 'web'")
    assert bad == [(stream, 3)]


def test_a_batch_committed_again_after_a_crash_is_skipped(
    js_settings: Settings, warehouse: Warehouse
) -> None:
    """A loader killed between its commit and its acknowledgement: the redelivered batch
    finds its sequences stored and inserts nothing."""
    messages = [Message(1, record("a")), Message(2, b"{broken"), Message(3, record("c"))]
    first = commit(warehouse, js_settings, "S", messages)
    again = commit(warehouse, js_settings, "S", messages)
    assert (first.loaded, first.quarantined, first.already_loaded) == (2, 1, 0)
    assert (again.loaded, again.quarantined, again.already_loaded) == (0, 0, 3)
    # a batch holding one message twice (redelivered while the first copy waited)
    twice = commit(warehouse, js_settings, "S", [Message(4, record("d"))] * 2)
    assert (twice.fetched, twice.loaded) == (2, 1)
    assert warehouse.rows("SELECT count(*) FROM web.hits") == [(3,)]
    assert warehouse.rows("SELECT count(*) FROM tally_meta.quarantine") == [(1,)]


def test_an_unacknowledged_batch_is_redelivered_to_another_loader_and_skipped(
    js_settings: Settings, duckdb_warehouse: Warehouse
) -> None:
    publish(js_settings, [record(str(n)) for n in range(5)])
    crashed = StreamLoader(duckdb_warehouse, js_settings, ack_wait=1.0).start()
    try:  # fetches and commits, then "dies" before acknowledging
        messages = crashed.fetch(100, 2.0)
        commit(
            duckdb_warehouse,
            js_settings,
            js_settings.web.hit_stream,
            [Message(m.metadata.sequence.stream, m.data) for m in messages],
        )
    finally:
        crashed.close()
    survivor = StreamLoader(duckdb_warehouse, js_settings, ack_wait=1.0).start()
    try:
        result = survivor.load(wait_seconds=3.0)  # after ack_wait the batch comes again
    finally:
        survivor.close()
    assert len(messages) == 5
    assert (result.fetched, result.loaded, result.already_loaded) == (5, 0, 5)
    assert duckdb_warehouse.rows("SELECT count(*), count(DISTINCT url) FROM web.hits") == [(5, 5)]


def test_two_loaders_at_once_load_every_hit_once(
    js_settings: Settings, warehouse: Warehouse
) -> None:
    total = 600
    publish(js_settings, [record(str(n)) for n in range(total)])
    loaders = [StreamLoader(warehouse, js_settings, ack_wait=5.0).start() for _ in range(2)]
    results = []
    deadline = time.monotonic() + 90

    def drain(loader: StreamLoader) -> None:
        # until every hit is in: a batch fetched by a loader that gave up comes back later
        while warehouse.rows("SELECT count(*) FROM web.hits")[0][0] < total:
            results.append(loader.load(wait_seconds=1.0))
            if time.monotonic() > deadline:
                return

    threads = [threading.Thread(target=drain, args=(loader,)) for loader in loaders]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        for loader in loaders:
            loader.close()
    assert sum(result.loaded for result in results) == total
    assert warehouse.rows("SELECT count(*), count(DISTINCT url) FROM web.hits") == [(total, total)]


def test_load_until_follows_the_stream_and_builds_visits(
    js_settings: Settings, duckdb_warehouse: Warehouse
) -> None:
    """``tally web load --follow``: hits published while it runs are loaded and placed in
    visits without another command."""
    settings = js_settings.model_copy(
        update={"web": js_settings.web.model_copy(update={"load_interval_seconds": 0.2})}
    )
    sites.add_site(duckdb_warehouse, "Shop", ["https://shop.example"], "UTC")
    stop = threading.Event()
    reports: list[dict[str, int]] = []
    follower = threading.Thread(
        target=load_until, args=(duckdb_warehouse, settings, stop, reports.append)
    )
    follower.start()
    try:
        publish(settings, [record("a"), record("b")])
        deadline = time.monotonic() + 60
        while not duckdb_warehouse.rows("SELECT count(*) FROM web.visits")[0][0]:
            assert time.monotonic() < deadline, reports
            time.sleep(0.2)
    finally:
        stop.set()
        follower.join(60)
    assert sum(report["loaded"] for report in reports) == 2
    assert duckdb_warehouse.rows("SELECT count(*) FROM web.hits") == [(2,)]


def test_the_stream_sequence_is_read_from_the_reply_subject_as_nats_py_reads_it() -> None:
    from nats.aio.msg import Msg

    from tally.jetstream import stream_sequence

    for reply in (
        "$JS.ACK.TALLY_HITS.tally-loader.1.4242.17.1764979200000000000.3",
        "$JS.ACK.hub.ACCHASH.TALLY_HITS.tally-loader.2.4242.17.1764979200000000000.3.x1",
    ):
        message = Msg(None, subject="web.hits", reply=reply)  # type: ignore[arg-type]
        assert stream_sequence(message) == message.metadata.sequence.stream == 4242
    with pytest.raises(Exception):  # noqa: B017,PT011 (nats-py's NotJSMessageError)
        stream_sequence(Msg(None, subject="web.hits", reply="_INBOX.abc"))  # type: ignore[arg-type]
