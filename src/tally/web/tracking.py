"""The Matomo-compatible tracking endpoint (``/matomo.php``, ``/piwik.php``).

Parameters come in the query string, a form body, or both (matomo.js sends ``sendBeacon``
POSTs with them in the URL); a JSON body ``{"requests": [...], "token_auth": ...}`` is bulk
tracking. Every request is checked in full (``tally.web.params.check_hit``) before anything
is written; a valid one is appended to the hit log and acknowledged only once it is on disk.
The answer is a 1×1 GIF, or 204 with ``send_image=0``; bulk answers JSON.

The endpoint is a plain ASGI callable, and the app hands it tracking requests before its
middleware and router (no session, no login wall, no Request or Response objects): a hit is
most of what the server does, and those layers cost more than checking the hit. The log
record is the query text as received plus what the HTTP request said (time, peer, user
agent, language); the loader parses it again into the ``web.hits`` row.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from urllib.parse import urlencode

from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tally.web.hitlog import HitLogError, RecordLog
from tally.web.params import Rejected, check_hit, last_value, parse_query, quick_site

logger = logging.getLogger(__name__)

PATHS = frozenset({"/matomo.php", "/piwik.php"})
# The smallest transparent GIF: what an <img> beacon expects back.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_BULK_REQUESTS = 10_000

TokenCheck = Callable[[str], Awaitable[bool]]
SiteCheck = Callable[[int], Awaitable[bool]]
# True when a site is known to exist without waiting for anything (a cache hit)
SiteKnown = Callable[[int], bool]
Headers = list[tuple[bytes, bytes]]
# a plain hit's peer, user agent, language and transport: what its record's tail is made of
_TailKey = tuple[str | None, bytes | None, bytes | None, str]
TAIL_CACHE_SIZE = 4096  # distinct tails kept (the cache is emptied when full)


@dataclass
class TrackingStats:
    """Counters since the server started, exposed to authenticated API users."""

    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(self.rejected),
            "failed_writes": self.failed,
        }


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class Incoming:
    """One tracking request as received, before it is checked."""

    params: dict[str, str] | None  # None: not parsed (yet) from raw
    transport: str  # get, post, bulk
    raw: str  # the query text the params came from (stored as received, minus token_auth)
    site: int | None = None  # set when quick_site vouched for raw: no parsing needed

    def take_token(self) -> str:
        """Its token_auth, removed from the parameters. A plain text that ``quick_site``
        accepts is never parsed (and has no token_auth: that name is not a quick one)."""
        if self.params is None:
            self.site = quick_site(self.raw)
            if self.site is not None:
                return ""
            self.params = parse_query(self.raw)
        return self.params.pop("token_auth", "")

    def sends_image(self) -> bool:
        if self.params is not None:
            return self.params.get("send_image") != "0"
        # quick-checked text: literal names, send_image values only "", "0" or "1"
        return last_value(self.raw, "send_image") != "0"


@dataclass(frozen=True, slots=True)
class PlainHit:
    """A plain GET's log record and what its answer depends on."""

    payload: bytes
    image: bool  # answer the 1x1 GIF (else 204: send_image=0)
    origin: bytes | None  # the request's Origin header, echoed by the CORS headers


@dataclass
class _Arrival:
    """What one HTTP request tells about all the hits it carries (a bulk has many)."""

    received_at: dt.datetime
    peer: str | None
    user_agent: str | None
    language: str | None
    origin: bytes | None
    declared_length: bytes | None
    known_sites: set[int] = field(default_factory=set)
    tokens: dict[str, bool] = field(default_factory=dict)
    tails: dict[tuple[str, bool], str] = field(default_factory=dict)

    @classmethod
    def of(cls, scope: Scope, received_at: dt.datetime) -> _Arrival:
        user_agent = language = None
        origin = length = None
        # One pass over the raw header pairs: a Headers object would cost more than this.
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == b"accept-language":
                language = value.decode("latin-1")
            elif name == b"origin":
                origin = value
            elif name == b"content-length":
                length = value
        client = scope.get("client")
        return cls(received_at, client[0] if client else None, user_agent, language, origin, length)

    def record_tail(self, transport: str, authenticated: bool) -> str:
        """Everything of a log record after its query text (the same for a whole bulk)."""
        key = (transport, authenticated)
        tail = self.tails.get(key)
        if tail is None:
            tail = self.tails[key] = (
                f',"t":"{self.received_at.isoformat()}","ip":{_json(self.peer)}'
                f',"ua":{_json(self.user_agent)},"lang":{_json(self.language)}'
                f',"auth":{"true" if authenticated else "false"},"via":"{transport}"}}'
            )
        return tail


def _json(text: str | None) -> str:
    # ASCII-only JSON strings: the log's frame magic (0xA7 0x1E) can never occur inside
    return "null" if text is None else encode_basestring_ascii(text)


class TrackingEndpoint:
    """Checks tracking requests and appends the valid ones to the hit log (an ASGI app)."""

    def __init__(
        self,
        hitlog: RecordLog,
        *,
        site_exists: SiteCheck,
        token_valid: TokenCheck,
        site_known: SiteKnown | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.hitlog = hitlog
        self.site_exists = site_exists
        self.site_known = site_known
        self.token_valid = token_valid
        self.clock = clock
        self.stats = TrackingStats()
        self._tails: dict[_TailKey, str] = {}

    def routes(self) -> list[Route]:
        """The same endpoint as routes, for an app that does not dispatch it in front."""
        return [Route(path, self) for path in sorted(PATHS)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "GET" and self.site_known is not None:
            plain = self.plain(
                scope["query_string"].decode("latin-1"), scope["headers"], scope.get("client")
            )
            if plain is not None:
                await self._plain(send, scope, plain)
                return
        arrival = _Arrival.of(scope, self.clock())
        if method == "OPTIONS":
            await _answer(send, arrival, 204, _PREFLIGHT, b"")
            return
        if method not in ("GET", "HEAD", "POST"):
            await _answer_json(send, arrival, 405, _error("use GET or POST", "method"))
            return
        try:
            request = await _read(scope, receive, method, arrival)
        except Rejected as rejection:
            await _answer_json(send, arrival, 400, self._refuse(rejection))
            return
        if isinstance(request, Incoming):
            await self._single(send, arrival, request)
        else:
            status, body = await self._bulk(arrival, request)
            await _answer_json(send, arrival, status, body)

    # -- single ------------------------------------------------------------------------

    def plain(
        self,
        raw: str,
        headers: Headers,
        client: tuple[str, int] | None,
        transport: str = "get",
    ) -> PlainHit | None:
        """A query that ``quick_site`` vouches for, of a site known to exist: its log
        record, with nothing left to check (no token, no parsing, no site lookup), and what
        its answer depends on. None for anything else (``__call__`` checks it in full).
        ``transport`` "post" is for a POST with the query in its URL and an empty body (a
        ``sendBeacon``): the full check logs it with the same record but for its "via".

        Synchronous, so that the tracking protocol (``tally.server.tracking_protocol``) can
        take most hits without a task; ``_plain`` is the same for an ASGI caller.
        """
        if self.site_known is None:
            return None
        site = quick_site(raw)
        if site is None or not self.site_known(site):
            return None
        received_at = self.clock()
        user_agent = language = origin = None
        for name, value in headers:  # what _Arrival.of reads, without the object
            if name == b"user-agent":
                user_agent = value
            elif name == b"accept-language":
                language = value
            elif name == b"origin":
                origin = value
        key = (client[0] if client else None, user_agent, language, transport)
        tail = self._tails.get(key)
        if tail is None:
            tail = self._plain_tail(headers, client, key)
        payload = f'{{"q":{_json(raw)},"t":"{received_at.isoformat()}"{tail}'.encode()
        return PlainHit(payload, last_value(raw, "send_image") != "0", origin)

    async def _plain(self, send: Send, scope: Scope, plain: PlainHit) -> None:
        """Log a plain hit and answer once it is durable (``plain``)."""
        try:
            await self.hitlog.append([plain.payload])
        except HitLogError:
            self.stats.failed += 1
            status, headers, body = unavailable_answer(plain.origin)
        else:
            self.stats.accepted += 1
            status, headers, body = plain_answer(plain)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _plain_tail(self, headers: Headers, client: tuple[str, int] | None, key: _TailKey) -> str:
        """What a plain hit's record holds after its time (peer, user agent, language: the
        same as ``_Arrival.record_tail``), kept for the next request from the same peer
        with the same headers."""
        scope = {"headers": headers, "client": client}
        tail = _Arrival.of(scope, dt.datetime.min).record_tail(key[3], False)
        tail = tail[tail.index(',"ip":') :]
        if len(self._tails) >= TAIL_CACHE_SIZE:
            self._tails.clear()
        self._tails[key] = tail
        return tail

    async def _single(self, send: Send, arrival: _Arrival, incoming: Incoming) -> None:
        try:
            payload = await self._check(arrival, incoming, "")
        except Rejected as rejection:
            await _answer_json(send, arrival, 400, self._refuse(rejection))
            return
        await self._log_and_answer(send, arrival, payload, incoming.sends_image())

    async def _log_and_answer(
        self, send: Send, arrival: _Arrival, payload: bytes, image: bool
    ) -> None:
        """Append one hit's record and answer once it is durable: the pixel, or 204."""
        try:
            await self.hitlog.append([payload])
        except HitLogError:
            self.stats.failed += 1
            await _answer_json(send, arrival, 503, _error("hit log unavailable"))
            return
        self.stats.accepted += 1
        if image:
            await _answer(send, arrival, 200, _GIF, PIXEL)
        else:
            await _answer(send, arrival, 204, _NO_STORE, b"")

    def _refuse(self, rejection: Rejected) -> bytes:
        self.stats.rejected[rejection.field or rejection.reason] += 1
        logger.info("tracking request rejected: %s", rejection)
        return _error(rejection.reason, rejection.field)

    # -- bulk --------------------------------------------------------------------------

    async def _bulk(self, arrival: _Arrival, bulk: _Bulk) -> tuple[int, bytes]:
        payloads: list[bytes] = []
        errors: list[dict[str, object]] = []
        # What every quick item shares: the bulk's token (a quick text has none of its own),
        # so whether it authenticates and the record's tail are settled once, at the first.
        quick_tail: str | None = None
        known_sites = arrival.known_sites
        for index, item in enumerate(bulk.requests):
            try:
                raw = item.split("?", 1)[-1] if isinstance(item, str) else None
                site = None if raw is None else quick_site(raw)
                if raw is None or site is None:
                    # anything else is checked in full, as a single request is
                    payloads.append(await self._check(arrival, _bulk_item(item, raw), bulk.token))
                    continue
                if quick_tail is None:
                    quick_tail = await self._quick_tail(arrival, bulk.token)
                if "token_auth" in raw:  # as in _record (only ever inside a value here)
                    raw = _without_token(raw)
                payload = f'{{"q":{encode_basestring_ascii(raw)}{quick_tail}'.encode()
                if site not in known_sites:
                    await self._require_site(arrival, site)
                payloads.append(payload)
            except Rejected as rejection:
                self.stats.rejected[rejection.field or rejection.reason] += 1
                errors.append(
                    {"index": index, "field": rejection.field, "reason": rejection.reason}
                )
        if errors:
            logger.info(
                "bulk tracking: %d of %d requests rejected", len(errors), len(bulk.requests)
            )
        if payloads:
            try:
                # one append, so the whole bulk waits for one fsync
                await self.hitlog.append(payloads)
            except HitLogError:
                self.stats.failed += len(payloads)
                return 503, _error("hit log unavailable")
        self.stats.accepted += len(payloads)
        body = {
            "status": "success" if payloads or not errors else "error",
            "tracked": len(payloads),
            "invalid": len(errors),
            "invalid_indices": [error["index"] for error in errors],
            "errors": errors,
        }
        return (200 if payloads or not errors else 400), json.dumps(body).encode()

    # -- checking ----------------------------------------------------------------------

    async def _quick_tail(self, arrival: _Arrival, bulk_token: str) -> str:
        """The record tail of a bulk item that ``quick_site`` vouched for (``_record``'s)."""
        authenticated = bool(bulk_token) and await self._token_valid(arrival, bulk_token)
        return arrival.record_tail("bulk", authenticated)

    async def _check(self, arrival: _Arrival, incoming: Incoming, bulk_token: str) -> bytes:
        """The record to log for a valid request; raises ``Rejected`` for anything else."""
        token = incoming.take_token() or bulk_token
        authenticated = bool(token) and await self._token_valid(arrival, token)
        idsite, payload = _record(arrival, incoming, authenticated)
        if idsite not in arrival.known_sites:
            await self._require_site(arrival, idsite)
        return payload

    async def _require_site(self, arrival: _Arrival, idsite: int) -> None:
        if not await self.site_exists(idsite):
            raise Rejected(f"site {idsite} does not exist", "idsite")
        arrival.known_sites.add(idsite)

    async def _token_valid(self, arrival: _Arrival, token: str) -> bool:
        """Each distinct token of a request is looked up once (a bulk repeats its own)."""
        known = arrival.tokens.get(token)
        if known is None:
            known = arrival.tokens[token] = await self.token_valid(token)
        return known


def _record(arrival: _Arrival, incoming: Incoming, authenticated: bool) -> tuple[int, bytes]:
    """Check a request's parameters; its site id and the log record (before the site check)."""
    if incoming.site is not None:
        idsite = incoming.site
    else:
        assert incoming.params is not None  # take_token parsed it
        idsite = check_hit(
            incoming.params, received_at=arrival.received_at, authenticated=authenticated
        )
    raw = _without_token(incoming.raw) if "token_auth" in incoming.raw else incoming.raw
    tail = arrival.record_tail(incoming.transport, authenticated)
    return idsite, f'{{"q":{_json(raw)}{tail}'.encode()


def decode_record(payload: bytes) -> dict[str, object]:
    """A hit-log record back as the dict ``_check`` wrote."""
    record: dict[str, object] = json.loads(payload)
    return record


@dataclass(frozen=True, slots=True)
class _Bulk:
    """A bulk request's items as its JSON gave them, and its token_auth."""

    requests: list[object]
    token: str


async def _read(scope: Scope, receive: Receive, method: str, arrival: _Arrival) -> Incoming | _Bulk:
    """The request's tracking parameters, or a bulk's items and token_auth."""
    raw_query = scope["query_string"].decode("latin-1")
    if method != "POST":
        return Incoming(None, "get", raw_query)
    query = parse_query(raw_query)
    text = (await _read_body(receive, arrival)).decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        return _bulk_requests(text)
    form = parse_query(text) if text else {}
    # Form fields win over the URL, as when PHP merges the POST body over the query; the
    # stored text keeps that order, so parsing it again gives the same parameters.
    raw = "&".join(part for part in (raw_query, text if form else "") if part)
    return Incoming({**query, **form}, "post", raw)


async def _read_body(receive: Receive, arrival: _Arrival) -> bytes:
    """The body, refused past MAX_BODY_BYTES before it is all held in memory."""
    too_large = Rejected(f"body larger than {MAX_BODY_BYTES} bytes", "body")
    declared = arrival.declared_length or b""
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Rejected("the client went away before the body was read", "body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _bulk_requests(text: str) -> _Bulk:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise Rejected(f"bulk body is not valid JSON ({error.msg})", "requests") from None
    requests = document.get("requests") if isinstance(document, dict) else None
    if not isinstance(requests, list) or not requests:
        raise Rejected('bulk body needs a non-empty "requests" list', "requests")
    if len(requests) > MAX_BULK_REQUESTS:
        raise Rejected(f"more than {MAX_BULK_REQUESTS} requests in one bulk", "requests")
    token = document.get("token_auth") or ""
    return _Bulk(requests, str(token))


def _bulk_item(item: object, raw: str | None) -> Incoming:
    """One bulk entry to check in full: a query string (``raw``: the text after its "?"),
    or an object of parameters."""
    if raw is not None:
        return Incoming(parse_query(raw), "bulk", raw)
    if isinstance(item, Mapping):
        params = {str(k): str(v) for k, v in item.items() if v is not None}
        return Incoming(params, "bulk", urlencode(params))
    # A wrong item type is checked like any request: it lacks rec=1 and is refused alone.
    return Incoming({}, "bulk", "")


TOKEN_PARAM = re.compile(r"(^|&)token_auth=[^&]*")


def _without_token(raw: str) -> str:
    """The query text with token_auth removed: a secret never reaches the log."""
    return TOKEN_PARAM.sub("", raw).lstrip("&")


# -- answers -------------------------------------------------------------------------

_NO_STORE: Headers = [(b"cache-control", b"no-cache, no-store, must-revalidate")]
_GIF: Headers = [
    *_NO_STORE,
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(PIXEL)).encode()),
]
_JSON: Headers = [(b"content-type", b"application/json")]
# Let browsers on any site send hits; with an Origin, echo it and allow credentials
# (sendBeacon sends cookies). The methods and headers allowed go only on the preflight
# (OPTIONS) answer: that is the only answer browsers read them from (the Fetch standard's
# CORS protocol), and each header costs the server time on every hit.
_PREFLIGHT: Headers = [
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"Content-Type"),
]
_ANY_ORIGIN: Headers = [(b"access-control-allow-origin", b"*")]
# the whole header lists of the common answers, built once (no Origin header)
_ANY_ORIGIN_ANSWERS = {id(headers): headers + _ANY_ORIGIN for headers in (_GIF, _NO_STORE)}


def _with_cors(headers: Headers, origin: bytes | None) -> Headers:
    """``headers`` and the CORS headers for a request from ``origin``."""
    if origin is None:
        built = _ANY_ORIGIN_ANSWERS.get(id(headers))
        return headers + _ANY_ORIGIN if built is None else built
    return [
        *headers,
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]


async def _answer(
    send: Send, arrival: _Arrival, status: int, headers: Headers, body: bytes
) -> None:
    """Send the answer; ``headers`` carry the content length where there is a body."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _with_cors(headers, arrival.origin),
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _answer_json(send: Send, arrival: _Arrival, status: int, body: bytes) -> None:
    length = (b"content-length", str(len(body)).encode())
    await _answer(send, arrival, status, [*_JSON, length], body)


def plain_answer(plain: PlainHit) -> tuple[int, Headers, bytes]:
    """Status, headers and body of a logged plain hit's answer (the pixel, or 204)."""
    if plain.image:
        return 200, _with_cors(_GIF, plain.origin), PIXEL
    return 204, _with_cors(_NO_STORE, plain.origin), b""


def unavailable_answer(origin: bytes | None) -> tuple[int, Headers, bytes]:
    """The answer to a hit the log could not make durable."""
    body = _error("hit log unavailable")
    length = (b"content-length", str(len(body)).encode())
    return 503, _with_cors([*_JSON, length], origin), body


def _error(reason: str, field: str | None = None) -> bytes:
    return json.dumps({"status": "error", "reason": reason, "field": field}).encode()
