"""Page views answered below ASGI: uvicorn's httptools protocol with a shortcut for hits.

A plain page view (a GET of ``/matomo.php`` or ``/piwik.php``, or a POST with an empty
body as ``sendBeacon`` sends, whose query ``TrackingEndpoint.plain`` vouches for, of a site
it knows) is handled in the HTTP parser's
callbacks: no ASGI scope, no task, no future. Its record is framed into the hit log's
batch, and when that batch's ``fdatasync`` is done (by the hit log's sync helper process,
whose answer the event loop reads; without it on the loop or by the hit log's writer
thread: ``tally.web.hitlog``) ``_Hit.settle`` is called for each waiting request, which writes the
answer's bytes (built once per second, with uvicorn's date header) to its connection. A
hit is still acknowledged only once it is on disk.

Everything else goes down uvicorn's own path to the ASGI app, unchanged: any other path,
method or query, a site not in the cache, an ``Expect: 100-continue`` or upgrade, a hit
log that is not local (JetStream), a ``root_path``. Behind a trusted proxy the visitor's
address is read from ``X-Forwarded-For`` as uvicorn's proxy middleware reads it.
Pipelined requests keep their order the way uvicorn keeps it: a hit waiting for its sync
stands in the protocol's ``cycle``, so a request behind it waits in uvicorn's ``pipeline``
(reading paused) and is started, by the ASGI app or by this shortcut, when the hit's
answer is written.

Why below ASGI: per page view, uvicorn's ASGI cycle (scope, task, receive and send
messages, header checks) cost about as much CPU as everything tally does for the hit
(benchmarks/README.md, Tracking), and no library serves requests on uvicorn without it.
This leans on uvicorn internals (the parser callbacks, ``cycle``, ``pipeline``, ``flow``,
``_start_asgi_task``, ``on_response_complete``): it is used only with the uvicorn versions
in ``VERIFIED_UVICORN`` (others get the stock protocol, and
``tests/server/test_tracking_protocol.py`` fails until the list is checked and updated).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import (
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from tally.web.hitlog import HitLog, HitLogError
from tally.web.tracking import (
    PATHS,
    Headers,
    PlainHit,
    TrackingEndpoint,
    plain_answer,
    unavailable_answer,
)

logger = logging.getLogger(__name__)

# uvicorn releases whose HttpToolsProtocol this subclass was read against and tested with
VERIFIED_UVICORN = ("0.55.",)
_RAW_PATHS = frozenset(path.encode() for path in PATHS)
_Outcome = tuple[str, int] | BaseException


def tracking_protocol(endpoint: TrackingEndpoint | None) -> type[asyncio.Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)``: the shortcut bound to
    ``endpoint``, or uvicorn's stock httptools protocol when it cannot apply."""
    if (
        endpoint is None
        or not isinstance(endpoint.hitlog, HitLog)
        or not uvicorn.__version__.startswith(VERIFIED_UVICORN)
    ):
        return HttpToolsProtocol
    return type("BoundTrackingProtocol", (TrackingProtocol,), {"endpoint": endpoint})


class _Hit:
    """One page view waiting for its sync. It stands in the protocol's ``cycle`` like a
    ``RequestResponseCycle``, so it has the attributes uvicorn's callbacks touch there."""

    __slots__ = (
        "body",
        "disconnected",
        "keep_alive",
        "more_body",
        "plain",
        "protocol",
        "response_complete",
    )

    class _NoEvent:
        @staticmethod
        def set() -> None:
            """Nothing waits on a hit's messages."""

    message_event = _NoEvent()

    def __init__(self, protocol: TrackingProtocol, plain: PlainHit, keep_alive: bool) -> None:
        self.protocol = protocol
        self.plain = plain
        self.keep_alive = keep_alive
        self.body = bytearray()  # a GET's body, if any, is read and ignored
        self.more_body = True
        self.response_complete = False
        self.disconnected = False

    def settle(self, outcome: _Outcome) -> None:
        """Called on the event loop once the hit's batch is synced (or failed)."""
        stats = self.protocol.endpoint.stats
        if isinstance(outcome, BaseException):
            stats.failed += 1
            self.protocol.answer(self, *unavailable_answer(self.plain.origin))
        else:
            stats.accepted += 1
            self.protocol.answer_plain(self)


class TrackingProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that answers plain page views itself (module docstring)."""

    endpoint: ClassVar[TrackingEndpoint]
    # encoded answers without an Origin, by (image, keep-alive), for one set of default
    # headers (uvicorn renews them, with the date, once a second)
    _answers: ClassVar[dict[tuple[bool, bool], bytes]] = {}
    _defaults: ClassVar[object] = None

    def on_message_begin(self) -> None:
        # uvicorn's, without the ASGI scope (a dict and a copy of the app state a request):
        # it is built in on_headers_complete, for the requests the ASGI app gets
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        try:
            hit = self._hit()
        except Exception:  # a fault of the shortcut: the ASGI path answers (or logs a 500)
            logger.exception("tracking protocol: handing the request to the ASGI app")
            hit = None
        if hit is None:
            self._begin_scope()
            super().on_headers_complete()
            return
        existing = self.cycle
        self.cycle = hit  # type: ignore[assignment]
        if existing is None or existing.response_complete:
            self._track(hit)
        else:  # pipelined behind an unanswered request: as uvicorn queues its own
            self.flow.pause_reading()
            self.pipeline.appendleft((hit, self.app))  # type: ignore[arg-type]

    def _begin_scope(self) -> None:
        """The scope uvicorn's ``on_message_begin`` builds, for what was parsed so far."""
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()  # builds the scope, with a new (empty) header list
        self.url, self.headers, self.expect_100_continue = url, headers, expect
        self.scope["headers"] = headers

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        # uvicorn starts the next pipelined request here: a hit is tracked, not run
        if isinstance(cycle, _Hit):
            self._track(cycle)
        else:
            super()._start_asgi_task(cycle, app)

    def _hit(self) -> _Hit | None:
        """The request as a plain page view, or None when it goes to the ASGI app."""
        parser = self.parser
        method = parser.get_method()
        if method == b"GET":
            transport = "get"
        elif method == b"POST" and self._empty_body():
            transport = "post"  # a sendBeacon: the query in the URL, nothing in the body
        else:
            return None
        if self.expect_100_continue or parser.should_upgrade() or self.root_path:
            return None
        url = httptools.parse_url(self.url)
        if url.path not in _RAW_PATHS or self._limited():
            return None
        query = (url.query or b"").decode("latin-1")
        plain = self.endpoint.plain(query, self.headers, self._visitor(), transport)
        if plain is None or (plain.origin is not None and HEADER_VALUE_RE.search(plain.origin)):
            return None  # uvicorn refuses such a header value: let it (a 500, as before)
        keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        return _Hit(self, plain, keep_alive)

    def _empty_body(self) -> bool:
        """A POST that says its body is empty (``Content-Length: 0``, not chunked)."""
        length = None
        for name, value in self.headers:
            if name == b"content-length":
                if length is not None:
                    return False
                length = value
            elif name == b"transfer-encoding":
                return False
        return length == b"0"

    def _limited(self) -> bool:
        """uvicorn answers 503 itself past ``limit_concurrency``."""
        limit = self.limit_concurrency
        return limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit)

    def _visitor(self) -> tuple[str, int] | None:
        """The client address uvicorn's proxy middleware would put in the scope: behind a
        trusted proxy, what it makes of ``X-Forwarded-For`` (the same steps as
        ``ProxyHeadersMiddleware.__call__``; ``X-Forwarded-Proto`` changes only the scheme,
        which tracking does not read)."""
        client = self.client
        trusted = getattr(self.app, "trusted_hosts", None)
        if trusted is None or (client[0] if client else None) not in trusted:
            return client
        forwarded = [value for name, value in self.headers if name == b"x-forwarded-for"]
        if not forwarded:
            return client
        host, port = trusted.get_trusted_client_address(b", ".join(forwarded).decode("latin1"))
        return (host, port) if host else client

    def _track(self, hit: _Hit) -> None:
        hitlog = self.endpoint.hitlog
        assert isinstance(hitlog, HitLog)  # tracking_protocol binds only a local log
        try:
            hitlog.submit([hit.plain.payload], self.loop, hit.settle)
        except HitLogError:
            self.endpoint.stats.failed += 1
            self.answer(hit, *unavailable_answer(hit.plain.origin))

    # -- answers -----------------------------------------------------------------------

    def answer_plain(self, hit: _Hit) -> None:
        if hit.plain.origin is not None:
            self.answer(hit, *plain_answer(hit.plain))
            return
        defaults = self.server_state.default_headers
        cls = type(self)
        if cls._defaults is not defaults:
            cls._answers = {}
            cls._defaults = defaults
        key = (hit.plain.image, hit.keep_alive)
        encoded = cls._answers.get(key)
        if encoded is None:
            encoded = cls._answers[key] = self.encode(*plain_answer(hit.plain), hit.keep_alive)
        self.write(hit, encoded)

    def answer(self, hit: _Hit, status: int, headers: Headers, body: bytes) -> None:
        self.write(hit, self.encode(status, headers, body, hit.keep_alive))

    def encode(self, status: int, headers: Headers, body: bytes, keep_alive: bool) -> bytes:
        """The bytes uvicorn's ``RequestResponseCycle.send`` writes for this answer (a GET,
        headers with a content length or a 204; ``tests/server/test_tracking_protocol.py``
        compares the two)."""
        content = [STATUS_LINE[status]]
        for name, value in [*self.server_state.default_headers, *headers]:
            content.extend([name.lower(), b": ", value, b"\r\n"])
        if not keep_alive:
            content.append(b"connection: close\r\n")
        content.append(b"\r\n")
        content.append(body)
        return b"".join(content)

    def write(self, hit: _Hit, encoded: bytes) -> None:
        """Send a hit's answer, then go on as uvicorn does after a response."""
        hit.response_complete = True
        if hit.disconnected or self.transport.is_closing():
            return
        self.transport.write(encoded)
        if not hit.keep_alive:
            self.transport.close()
        self._answered()

    # -- keep-alive --------------------------------------------------------------------
    # uvicorn arms a new keep-alive timer after every response and cancels it when the next
    # request arrives: a timer object and a heap entry a request (3rd in cProfile's own time
    # per hit: benchmarks/tracking_protocol_profile.py). After a hit, one timer a connection
    # is kept instead, and it looks at the time of the last answer when it fires.

    _idle_since: float | None = None  # when the last hit was answered; None: data since
    _idle_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        self._idle_since = None
        super().data_received(data)

    def _answered(self) -> None:
        """``on_response_complete`` with a lazy keep-alive timer."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()  # uvicorn's own, if an ASGI answer armed it
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_at(
                self._idle_since + self.timeout_keep_alive, self._idle_check
            )

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self._idle_since is None or self.transport.is_closing():
            return  # a request came since: its answer keeps the connection (uvicorn's timer)
        due = self._idle_since + self.timeout_keep_alive
        if self.loop.time() >= due:
            self.transport.close()
        else:
            self._idle_timer = self.loop.call_at(due, self._idle_check)
