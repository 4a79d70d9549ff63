"""The Matomo-compatible tracking endpoint (``/matomo.php``, ``/piwik.php``).

Parameters come in the query string, a form body, or both (matomo.js sends ``sendBeacon``
POSTs with them in the URL); a JSON body ``{"requests": [...], "token_auth": ...}`` is bulk
tracking. Every request is checked in full (``tally.web.params``) before anything is
written; a valid one is appended to the hit log and acknowledged only once it is on disk.
The answer is a 1×1 GIF, or 204 with ``send_image=0``; bulk answers JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tally.web.hitlog import HitLog, HitLogError
from tally.web.params import Rejected, parse_hit, parse_query

logger = logging.getLogger(__name__)

# The smallest transparent GIF: what an <img> beacon expects back.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_BULK_REQUESTS = 10_000

TokenCheck = Callable[[str], Awaitable[bool]]
SiteCheck = Callable[[int], Awaitable[bool]]


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

    params: dict[str, str]
    transport: str  # get, post, bulk
    raw: str  # the query text the params came from (stored as received, minus token_auth)


class TrackingEndpoint:
    """Checks tracking requests and appends the valid ones to the hit log."""

    def __init__(
        self,
        hitlog: HitLog,
        *,
        site_exists: SiteCheck,
        token_valid: TokenCheck,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.hitlog = hitlog
        self.site_exists = site_exists
        self.token_valid = token_valid
        self.clock = clock
        self.stats = TrackingStats()

    def routes(self) -> list[Route]:
        methods = ["GET", "POST", "OPTIONS"]
        return [
            Route("/matomo.php", self.handle, methods=methods),
            Route("/piwik.php", self.handle, methods=methods),
        ]

    async def handle(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return _cors(request, Response(status_code=204))
        try:
            incoming, bulk_token = await _read(request)
        except Rejected as rejection:
            return _cors(request, self._refuse(rejection))
        if bulk_token is not None:
            return _cors(request, await self._bulk(request, incoming, bulk_token))
        return _cors(request, await self._single(request, incoming[0]))

    # -- single ------------------------------------------------------------------------

    async def _single(self, request: Request, incoming: Incoming) -> Response:
        try:
            payload = await self._check(_Arrival.of(request, self.clock()), incoming, None)
        except Rejected as rejection:
            return self._refuse(rejection)
        try:
            await self.hitlog.append([payload])
        except HitLogError:
            self.stats.failed += 1
            return JSONResponse({"status": "error", "reason": "hit log unavailable"}, 503)
        self.stats.accepted += 1
        if incoming.params.get("send_image") == "0":
            return Response(status_code=204, headers=_NO_STORE)
        return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)

    def _refuse(self, rejection: Rejected) -> Response:
        self.stats.rejected[rejection.field or rejection.reason] += 1
        logger.info("tracking request rejected: %s", rejection)
        body = {"status": "error", "reason": rejection.reason, "field": rejection.field}
        return JSONResponse(body, status_code=400)

    # -- bulk --------------------------------------------------------------------------

    async def _bulk(self, request: Request, incoming: list[Incoming], token: str) -> Response:
        payloads: list[bytes] = []
        errors: list[dict[str, object]] = []
        arrival = _Arrival.of(request, self.clock())
        for index, item in enumerate(incoming):
            try:
                payloads.append(await self._check(arrival, item, token))
            except Rejected as rejection:
                self.stats.rejected[rejection.field or rejection.reason] += 1
                errors.append(
                    {"index": index, "field": rejection.field, "reason": rejection.reason}
                )
        if errors:
            logger.info("bulk tracking: %d of %d requests rejected", len(errors), len(incoming))
        if payloads:
            try:
                await self.hitlog.append(payloads)
            except HitLogError:
                self.stats.failed += len(payloads)
                return JSONResponse({"status": "error", "reason": "hit log unavailable"}, 503)
        self.stats.accepted += len(payloads)
        body = {
            "status": "success" if payloads or not errors else "error",
            "tracked": len(payloads),
            "invalid": len(errors),
            "invalid_indices": [error["index"] for error in errors],
            "errors": errors,
        }
        return JSONResponse(body, status_code=200 if payloads or not errors else 400)

    # -- checking ----------------------------------------------------------------------

    async def _check(self, arrival: _Arrival, incoming: Incoming, bulk_token: str | None) -> bytes:
        """The record to log for a valid request; raises ``Rejected`` for anything else."""
        params = incoming.params
        token = params.pop("token_auth", "") or bulk_token or ""
        authenticated = bool(token) and await self.token_valid(token)
        hit = parse_hit(
            params,
            received_at=arrival.received_at,
            authenticated=authenticated,
            peer_ip=arrival.peer,
            header_ua=arrival.user_agent,
            header_lang=arrival.language,
        )
        if hit.idsite not in arrival.known_sites:
            if not await self.site_exists(hit.idsite):
                raise Rejected(f"site {hit.idsite} does not exist", "idsite")
            arrival.known_sites.add(hit.idsite)
        record = {
            "q": _without_token(incoming.raw) if "token_auth" in incoming.raw else incoming.raw,
            "t": arrival.received_text,
            "ip": arrival.peer,
            "ua": arrival.user_agent,
            "lang": arrival.language,
            "auth": authenticated,
            "via": incoming.transport,
        }
        return json.dumps(record, separators=(",", ":")).encode()


@dataclass
class _Arrival:
    """What one HTTP request tells about all the hits it carries (a bulk has many)."""

    received_at: dt.datetime
    received_text: str
    peer: str | None
    user_agent: str | None
    language: str | None
    known_sites: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, request: Request, received_at: dt.datetime) -> _Arrival:
        headers = request.headers
        return cls(
            received_at,
            received_at.isoformat(),
            request.client.host if request.client else None,
            headers.get("user-agent"),
            headers.get("accept-language"),
        )


_NO_STORE = {"Cache-Control": "no-cache, no-store, must-revalidate"}


def decode_record(payload: bytes) -> dict[str, object]:
    """A hit-log record back as the dict ``_check`` wrote."""
    return json.loads(payload)


async def _read(request: Request) -> tuple[list[Incoming], str | None]:
    """The request's tracking parameters; bulk returns several and the bulk token_auth."""
    raw_query = request.scope["query_string"].decode("latin-1")
    query = parse_query(raw_query)
    if request.method != "POST":
        return [Incoming(query, "get", raw_query)], None
    text = (await _read_body(request)).decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        return _bulk_requests(text)
    form = parse_query(text) if text else {}
    # Form fields win over the URL, as when PHP merges the POST body over the query; the
    # stored text keeps that order, so parsing it again gives the same parameters.
    raw = "&".join(part for part in (raw_query, text if form else "") if part)
    return [Incoming({**query, **form}, "post", raw)], None


async def _read_body(request: Request) -> bytes:
    """The body, refused past MAX_BODY_BYTES before it is all held in memory."""
    too_large = Rejected(f"body larger than {MAX_BODY_BYTES} bytes", "body")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _bulk_requests(text: str) -> tuple[list[Incoming], str]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise Rejected(f"bulk body is not valid JSON ({error.msg})", "requests") from None
    requests = document.get("requests") if isinstance(document, dict) else None
    if not isinstance(requests, list) or not requests:
        raise Rejected('bulk body needs a non-empty "requests" list', "requests")
    if len(requests) > MAX_BULK_REQUESTS:
        raise Rejected(f"more than {MAX_BULK_REQUESTS} requests in one bulk", "requests")
    incoming = []
    for item in requests:
        params, raw = _bulk_item(item)
        incoming.append(Incoming(params, "bulk", raw))
    token = document.get("token_auth") or ""
    return incoming, str(token)


def _bulk_item(item: object) -> tuple[dict[str, str], str]:
    """Parameters and query text of one bulk entry (a query string, or an object)."""
    if isinstance(item, str):
        raw = item.split("?", 1)[-1]
        return parse_query(raw), raw
    if isinstance(item, Mapping):
        params = {str(k): str(v) for k, v in item.items() if v is not None}
        return params, urlencode(params)
    # A wrong item type is checked like any request: it lacks rec=1 and is refused alone.
    return {}, ""


TOKEN_PARAM = re.compile(r"(^|&)token_auth=[^&]*")


def _without_token(raw: str) -> str:
    """The query text with token_auth removed: a secret never reaches the log."""
    return TOKEN_PARAM.sub("", raw).lstrip("&")


CORS_ALWAYS = [
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"Content-Type"),
]


def _cors(request: Request, response: Response) -> Response:
    """Let browsers on any site send hits, with cookies (sendBeacon uses credentials)."""
    origin = request.headers.get("origin")
    if origin:
        response.raw_headers += [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]
    else:
        response.raw_headers.append((b"access-control-allow-origin", b"*"))
    # Raw header pairs: this runs on every hit, and MutableHeaders rescans per assignment.
    response.raw_headers += CORS_ALWAYS
    return response
