"""Plain page views answered below ASGI (``tally.server.tracking_protocol``), on a real
uvicorn server in a thread, over raw sockets (so keep-alive and pipelining are what is
sent, byte for byte)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tally.server import tracking_protocol as module
from tally.server.tracking_protocol import TrackingProtocol, _Hit, tracking_protocol
from tally.web.hitlog import HitLog, read_segment, segment_paths
from tally.web.tracking import PATHS, PIXEL, TrackingEndpoint

PLAIN = "idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2F&action_name=Home"


@dataclass
class Running:
    port: int
    endpoint: TrackingEndpoint
    hitlog: HitLog
    log_dir: Path

    def records(self) -> list[bytes]:
        return [
            record.payload
            for path in segment_paths(self.log_dir)
            for record in read_segment(path, 0, sealed=False).records
        ]


def _app(endpoint: TrackingEndpoint) -> Any:
    """What TallyApp does for these paths: tracking to the endpoint, the rest elsewhere."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] in PATHS:
            await endpoint(scope, receive, send)
            return
        body = b"served by the ASGI app"
        if scope["path"] == "/scope":  # what the app was given, but for the ports
            shown = {k: v for k, v in scope.items() if k not in ("server", "client", "state")}
            body = repr((shown, scope["client"][0], scope["state"])).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def _yes(_value: object) -> bool:
    return True


async def _site_one(site: object) -> bool:
    return site == 1


@pytest.fixture
def shortcut(monkeypatch) -> list[bytes]:
    """The payloads of the hits the shortcut took (not the ASGI path)."""
    taken: list[bytes] = []
    track = TrackingProtocol._track

    def counted(self: TrackingProtocol, hit: _Hit) -> None:
        taken.append(hit.plain.payload)
        track(self, hit)

    monkeypatch.setattr(TrackingProtocol, "_track", counted)
    return taken


# the hit log's three ways to sync (tally.web.hitlog): its helper process (as tally serve
# runs it), the event loop (which a sync blocks), its writer thread
SYNCS: dict[str, dict[str, Any]] = {
    "by the helper": {"inline_limit": 0},  # never relieved by the writer thread
    "on the loop": {"inline_limit": 60, "sync_helper": False},
    "by the writer": {"inline_limit": 0, "sync_helper": False},
}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start servers: ``serve(protocol=None)`` runs tally's protocol, or the one given."""
    started: list[tuple[uvicorn.Server, threading.Thread, HitLog]] = []

    def start(
        protocol: type[asyncio.Protocol] | None = None,
        proxy: bool = False,
        keep_alive: float = 5,
        sync: str = "by the helper",
    ) -> Running:
        log_dir = tmp_path / f"log{len(started)}"
        hitlog = HitLog(log_dir, 1 << 20, **SYNCS[sync])
        hitlog.start()
        endpoint = TrackingEndpoint(
            hitlog, site_exists=_site_one, token_valid=_yes, site_known=lambda site: site == 1
        )
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            _app(endpoint),
            http=protocol or tracking_protocol(endpoint),
            access_log=False,
            lifespan="off",
            log_level="warning",
            # as tally serve without trusted proxies; or uvicorn's default: 127.0.0.1 trusted
            proxy_headers=proxy,
            timeout_keep_alive=keep_alive,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]})
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        started.append((server, thread, hitlog))
        return Running(listening.getsockname()[1], endpoint, hitlog, log_dir)

    yield start
    for server, thread, hitlog in started:
        server.should_exit = True
        thread.join(20)
        hitlog.close()


def _get(path: str, *, version: str = "1.1", headers: str = "") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: t\r\nUser-Agent: test\r\n{headers}\r\n".encode()


def _hit(query: str = PLAIN, **options: Any) -> bytes:
    return _get(f"/matomo.php?{query}", **options)


def _read(connection: socket.socket, count: int) -> list[bytes]:
    """``count`` whole responses (every answer here has a content length, or is a 204)."""
    data = b""
    answers = []
    while len(answers) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[: end + 4]
            length = re.search(rb"content-length: (\d+)", head.lower())
            size = end + 4 + (int(length.group(1)) if length else 0)
            if len(data) >= size:
                answers.append(data[:size])
                data = data[size:]
                continue
        chunk = connection.recv(65536)
        assert chunk, f"connection closed after {len(answers)} answers"
        data += chunk
    assert not data, "more bytes than the answers asked for"
    return answers


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _connect(running: Running) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", running.port), timeout=10)
    return connection


def test_keep_alive_connection_gets_one_answer_per_hit_and_each_hit_is_logged(
    serve, shortcut
) -> None:
    running = serve()
    with _connect(running) as connection:
        for number in range(3):
            connection.sendall(_hit(f"{PLAIN}&send_image=0&r={number}"))
            (answer,) = _read(connection, 1)
            assert _status(answer) == 204
            assert b"access-control-allow-origin: *\r\n" in answer
    records = running.records()
    assert [b"&r=%d" % number in record for number, record in enumerate(records)] == [True] * 3
    assert running.endpoint.stats.accepted == 3
    assert shortcut == records


def test_pipelined_requests_are_answered_in_order(serve, shortcut) -> None:
    """A hit, a request for the ASGI app, a 204 hit, a hit the endpoint checks in full
    (site 2 is not in the cache: the ASGI path, refused) and a GIF hit, in one write."""
    running = serve()
    with _connect(running) as connection:
        connection.sendall(
            _hit()
            + _get("/elsewhere")
            + _hit(f"{PLAIN}&send_image=0")
            + _hit(PLAIN.replace("idsite=1", "idsite=2"))
            + _hit(f"{PLAIN}&r=last")
        )
        answers = _read(connection, 5)
    assert [_status(answer) for answer in answers] == [200, 200, 204, 400, 200]
    assert answers[0].endswith(b"\r\n\r\n" + PIXEL)
    assert answers[1].endswith(b"served by the ASGI app")
    assert b'"field": "idsite"' in answers[3]
    assert len(running.records()) == 3  # the refused hit is not logged
    assert shortcut == running.records()


@pytest.mark.parametrize("sync", SYNCS)
def test_a_hit_is_not_answered_before_its_sync(serve, monkeypatch, sync: str) -> None:
    running = serve(sync=sync)
    synced = threading.Event()
    real_sync = os.fdatasync
    threads: list[str] = []

    def blocked_sync(descriptor: int) -> None:
        threads.append(threading.current_thread().name)
        synced.wait(30)
        real_sync(descriptor)

    monkeypatch.setattr(os, "fdatasync", blocked_sync)
    helper = running.hitlog._helper
    if helper is not None:  # the helper's sync is held by stopping the helper
        os.kill(helper.pid, signal.SIGSTOP)
    try:
        with _connect(running) as connection:
            connection.sendall(_hit(f"{PLAIN}&send_image=0"))
            connection.settimeout(0.5)
            with pytest.raises(TimeoutError):
                connection.recv(1)  # the record is written, not yet synced: no answer
            assert running.endpoint.stats.accepted == 0
            synced.set()
            if helper is not None:
                os.kill(helper.pid, signal.SIGCONT)
            connection.settimeout(10)
            (answer,) = _read(connection, 1)
    finally:
        if helper is not None:
            os.kill(helper.pid, signal.SIGCONT)
    assert _status(answer) == 204
    assert running.endpoint.stats.accepted == 1
    # the loop's and the writer's syncs are fdatasync calls in this process; the helper's not
    by_writer = [name == "hitlog-writer" for name in threads]
    expected = {"by the helper": [], "on the loop": [False], "by the writer": [True]}
    assert by_writer == expected[sync]
    assert running.hitlog.helper_batches == (sync == "by the helper")


@pytest.mark.parametrize("sync", SYNCS)
def test_many_pipelined_hits_are_answered_and_logged_in_the_order_sent(
    serve, shortcut, sync: str
) -> None:
    """Forty hits in one write, with a request for the ASGI app in the middle: each hit
    waits for its own sync (one at a time on a connection), the answers come in order,
    and the records too."""
    running = serve(sync=sync)
    hits = [_hit(f"{PLAIN}&send_image=0&r={number}") for number in range(40)]
    with _connect(running) as connection:
        connection.sendall(b"".join(hits[:20]) + _get("/elsewhere") + b"".join(hits[20:]))
        answers = _read(connection, 41)
    assert [_status(answer) for answer in answers] == [204] * 20 + [200] + [204] * 20
    assert answers[20].endswith(b"served by the ASGI app")
    records = running.records()
    sent = [int(re.search(rb"&r=(\d+)", record).group(1)) for record in records]  # type: ignore[union-attr]
    assert sent == list(range(40))
    assert shortcut == records
    assert running.hitlog.batches == 40  # one hit of a connection per sync


def test_a_closed_hit_log_answers_503(serve, shortcut) -> None:
    running = serve()
    running.hitlog.close()
    with _connect(running) as connection:
        connection.sendall(_hit(headers="Origin: https://shop.example\r\n"))
        (answer,) = _read(connection, 1)
    assert _status(answer) == 503
    assert b"access-control-allow-origin: https://shop.example\r\n" in answer
    assert answer.endswith(b'"reason": "hit log unavailable", "field": null}')
    assert running.endpoint.stats.failed == 1
    assert len(shortcut) == 1


def test_a_malformed_request_gets_uvicorns_400(serve) -> None:
    running = serve()
    with _connect(running) as connection:
        connection.sendall(b"GET /matomo.php?" + PLAIN.encode() + b" HTTP/1.1\r\nHost t\r\n\r\n")
        (answer,) = _read(connection, 1)
    assert _status(answer) == 400
    assert answer.endswith(b"Invalid HTTP request received.")
    assert running.records() == []


REQUESTS = [
    _hit(),
    _hit(f"{PLAIN}&send_image=0"),
    _hit(headers="Origin: https://shop.example\r\n"),
    _hit(f"{PLAIN}&send_image=0", headers="Connection: close\r\n"),
    _hit(version="1.0"),
    # a sendBeacon: a POST with the query in its URL and an empty body
    _get(f"/matomo.php?{PLAIN}&send_image=0", headers="Content-Length: 0\r\n").replace(
        b"GET", b"POST", 1
    ),
]


@pytest.mark.parametrize("request_bytes", REQUESTS)
def test_the_answer_is_byte_for_byte_what_uvicorns_asgi_path_sends(
    serve, shortcut, request_bytes
) -> None:
    """The shortcut writes answers itself: they must be the bytes uvicorn would write for
    the endpoint's ASGI answer (but for the date, which may tick between the two)."""

    def answer(running: Running) -> bytes:
        with _connect(running) as connection:
            connection.sendall(request_bytes)
            (answer,) = _read(connection, 1)
        return re.sub(rb"date: [^\r]*\r\n", b"", answer)

    fast, stock = serve(), serve(HttpToolsProtocol)
    assert answer(fast) == answer(stock)
    assert fast.endpoint.stats.accepted == stock.endpoint.stats.accepted == 1
    assert shortcut == fast.records()  # the shortcut answered the first server's hit
    # the same record, but for its time
    assert [_timeless(record) for record in fast.records()] == [
        _timeless(record) for record in stock.records()
    ]


def test_a_request_after_hits_gets_the_scope_uvicorn_gives_it(serve) -> None:
    """The shortcut builds no scope for a hit; a request it hands to the app (after hits on
    the same connection) gets the very scope uvicorn's own protocol gives it."""

    def scope_seen(running: Running) -> bytes:
        with _connect(running) as connection:
            connection.sendall(
                _hit()
                + _get("/scope?a=1&b=%20", headers="X-Test:  kept \r\nAccept-Language: de\r\n")
                + _hit()
                + _get("/scope", version="1.0")
            )
            answers = _read(connection, 4)
        assert [_status(answer) for answer in answers] == [200] * 4
        return answers[1].split(b"\r\n\r\n", 1)[1] + answers[3].split(b"\r\n\r\n", 1)[1]

    fast, stock = serve(), serve(HttpToolsProtocol)
    seen = scope_seen(fast)
    assert seen == scope_seen(stock)
    assert b"'query_string': b'a=1&b=%20'" in seen and b"(b'x-test', b'kept')" in seen


def _timeless(record: bytes) -> bytes:
    return re.sub(rb'"t":"[^"]*"', b"", record)


def test_the_uvicorn_internals_used_are_the_verified_ones() -> None:
    """Fails loudly when uvicorn changes: its version must be one this was checked with,
    and every attribute uvicorn's own callbacks touch on ``self.cycle`` (where a waiting
    hit stands) must be one a hit has."""
    assert uvicorn.__version__.startswith(module.VERIFIED_UVICORN), (
        f"uvicorn {uvicorn.__version__}: check tally/server/tracking_protocol.py against its "
        "httptools_impl.py, run these tests, then add it to VERIFIED_UVICORN"
    )
    source = Path(httptools_impl.__file__).read_text()
    touched = set(re.findall(r"self\.cycle\.(\w+)", source))
    provided = {*_Hit.__slots__, "message_event"}
    assert touched <= provided, touched - provided
    for name in ("_start_asgi_task", "on_response_complete", "on_headers_complete"):
        assert callable(getattr(HttpToolsProtocol, name))
    assert issubclass(tracking_protocol(_endpoint_with_log()), TrackingProtocol)


def _endpoint_with_log() -> TrackingEndpoint:
    return TrackingEndpoint(HitLog("/nonexistent", 1), site_exists=_yes, token_valid=_yes)


def test_a_log_that_is_not_local_keeps_the_stock_protocol() -> None:
    class Remote:
        async def append(self, payloads: list[bytes]) -> list[str]:
            return []

    endpoint = TrackingEndpoint(Remote(), site_exists=_yes, token_valid=_yes)
    assert tracking_protocol(endpoint) is HttpToolsProtocol
    assert tracking_protocol(None) is HttpToolsProtocol


def test_behind_a_trusted_proxy_the_record_holds_the_forwarded_address(serve, shortcut) -> None:
    """Behind a trusted proxy the visitor's address is what uvicorn's proxy middleware makes
    of X-Forwarded-For (the last address not itself trusted): the shortcut logs the same as
    the ASGI path on the stock protocol, with and without the header."""
    requests = [
        _hit(f"{PLAIN}&send_image=0", headers="X-Forwarded-For: 203.0.113.9\r\n"),
        _hit(f"{PLAIN}&send_image=0", headers="X-Forwarded-For: 198.51.100.1, 127.0.0.1\r\n"),
        _hit(
            f"{PLAIN}&send_image=0",
            headers="X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-For: 192.0.2.7\r\n",
        ),
        _hit(f"{PLAIN}&send_image=0"),
    ]

    def records(running: Running) -> list[bytes]:
        with _connect(running) as connection:
            for request in requests:
                connection.sendall(request)
                assert _status(_read(connection, 1)[0]) == 204
        return [_timeless(record) for record in running.records()]

    fast, stock = serve(proxy=True), serve(HttpToolsProtocol, proxy=True)
    logged = records(fast)
    assert logged == records(stock)
    assert [
        b'"ip":"%s"' % address in record
        for address, record in zip(
            [b"203.0.113.9", b"198.51.100.1", b"192.0.2.7", b"127.0.0.1"], logged, strict=True
        )
    ] == [True] * 4
    assert len(shortcut) == 4


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout_and_a_busy_one_not(
    serve, shortcut
) -> None:
    """The shortcut keeps one lazy keep-alive timer a connection (not one per answer): a
    connection that sends hits more often than the timeout stays open past it; one that
    goes quiet is closed once the timeout has passed since its last answer."""
    running = serve(keep_alive=0.6)
    with _connect(running) as connection:
        started = time.monotonic()
        while time.monotonic() - started < 1.5:  # 2.5 timeouts of hits every 0.2 s
            connection.sendall(_hit(f"{PLAIN}&send_image=0"))
            assert _status(_read(connection, 1)[0]) == 204
            time.sleep(0.2)
        answered = time.monotonic()
        assert connection.recv(1) == b""  # closed by the server: nothing more came
        waited = time.monotonic() - answered
    assert 0.2 < waited < 2.0, waited  # closed by the timeout (0.6 s after the last answer)
    assert len(shortcut) >= 5
