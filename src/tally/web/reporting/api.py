"""Matomo's Reporting API: ``/index.php?module=API&method=...`` answered from the warehouse.

``call`` is the Python entry point (what the CLI and the HTTP route use); ``routes`` gives the
Starlette routes. Authentication is the caller's: ``routes`` takes the server's token check
as a callable, because tally.web sits below tally.server and must not import it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tally.config import Settings
from tally.errors import (
    AccessDeniedError,
    BadInputError,
    NotFoundError,
    TallyError,
    TransientError,
)
from tally.warehouse import Warehouse, from_settings
from tally.web.reporting.cache import ReportCache
from tally.web.reporting.default_date import default_date
from tally.web.reporting.filters import apply_filters
from tally.web.reporting.formats import Keyed, Rendered, plain, render, render_error
from tally.web.reporting.methods import Method, Query, find
from tally.web.reporting.periods import PERIODS, Span, resolve, site_today
from tally.web.reporting.segments import Compiled, compile_segment
from tally.web.reporting.sites_api import SITE_METHODS
from tally.web.sites import site_timezones


@runtime_checkable
class Rights(Protocol):
    """A token's rights as the server's ``Access`` gives them."""

    @property
    def is_admin(self) -> bool: ...

    def can_view(self, idsite: int) -> bool: ...


# A token's rights: falsy refuses it; ``Rights`` of a user limit the sites (an admin's or a
# service's see all); plain True allows every site.
TokenCheck = Callable[[str], Awaitable[Rights | bool | None]]
SiteCheck = Callable[[int], bool]
# Runs a blocking report function (given a warehouse) for a request; the server's runner
# adds its own threads, a time limit and cancellation when the client leaves.
Runner = Callable[[Request, Callable[[Warehouse], object]], Awaitable[object]]
BULK = "API.getBulkRequest"
MOST_BULK_REQUESTS = 100


def call(
    warehouse: Warehouse,
    method: str,
    params: Mapping[str, str],
    *,
    now: dt.datetime | None = None,
    cache: ReportCache | None = None,
    can_view: SiteCheck | None = None,
) -> object:
    """The answer of one Reporting API method; ``params`` as Matomo's query string has them.

    ``can_view`` limits the sites to those of the caller: ``idSite=all`` means all of its
    sites, and a site outside them is refused (AccessDeniedError).

    One site and one period give the method's report (a row dict or a list of rows);
    several periods or sites give a ``Keyed`` answer holding one report per key. With a
    ``cache``, reports of closed periods come from it while their days are unchanged.
    """
    about_sites = SITE_METHODS.get(method)
    if about_sites is not None:
        with warehouse.session():
            if can_view is None:
                return about_sites(warehouse, params)
            return _within_rights(
                method, about_sites(warehouse, _viewable(method, params, can_view)), can_view
            )
    chosen = find(method)
    segment = compile_segment(params.get("segment"))
    # one connection for every query of the call, then released
    with warehouse.session():
        return _answer(warehouse, chosen, segment, params, now, cache, can_view)


def _answer(
    warehouse: Warehouse,
    chosen: Method,
    segment: Compiled,
    params: Mapping[str, str],
    now: dt.datetime | None,
    cache: ReportCache | None = None,
    can_view: SiteCheck | None = None,
) -> object:
    sites = _sites(warehouse, params.get("idSite", ""), can_view)
    answers: dict[str, object] = {}
    for idsite, timezone in sites:
        if chosen.periodless:
            today = site_today(timezone, now)
            query = Query(warehouse, idsite, Span("day", today, today), segment, params, now)
            answers[str(idsite)] = chosen.function(query)
            continue
        period, date = params.get("period", ""), params.get("date", "")
        if not date.strip() and period in PERIODS:  # no date: yesterday, or the newest data
            date = default_date(warehouse, idsite, timezone, period, now).date
        periods = resolve(period, date, timezone, now)
        reports: dict[str, object] = {}
        for span in periods.spans:
            query = Query(warehouse, idsite, span, segment, params, now)
            if cache is None:
                report = chosen.function(query)
            else:
                report = cache.answer(chosen.name, query, timezone, chosen.function)
            reports[span.label] = (
                apply_filters(report, params) if isinstance(report, list) else report
            )
        answers[str(idsite)] = (
            Keyed("date", reports) if periods.multiple else next(iter(reports.values()))
        )
    if len(answers) == 1 and not _asks_many_sites(params.get("idSite", "")):
        return next(iter(answers.values()))
    return Keyed("idSite", answers)


def _viewable(method: str, params: Mapping[str, str], can_view: SiteCheck) -> Mapping[str, str]:
    """Refuse, for a caller limited to some sites, what only an admin may ask."""
    if method == "SitesManager.addSite":
        raise AccessDeniedError("SitesManager.addSite needs an admin's token")
    text = params.get("idSite", "").strip()
    if method == "SitesManager.getSiteFromId" and text.isdigit() and not can_view(int(text)):
        raise AccessDeniedError(f"this token has no 'view' access to idSite {int(text)}")
    return params


def _within_rights(method: str, answer: object, can_view: SiteCheck) -> object:
    """The sites-listing answers cut to the caller's sites."""
    if method == "SitesManager.getAllSites" and isinstance(answer, dict):
        return {key: row for key, row in answer.items() if can_view(int(key))}
    if method == "SitesManager.getSitesIdFromSiteUrl" and isinstance(answer, list):
        return [row for row in answer if can_view(int(row["idsite"]))]
    return answer


def bulk(
    warehouse: Warehouse,
    params: Mapping[str, str],
    *,
    now: dt.datetime | None = None,
    can_view: SiteCheck | None = None,
) -> list[object]:
    """``API.getBulkRequest``: each ``urls[i]`` is a query string; errors answer in place."""
    requests = [
        value for key, value in sorted(params.items(), key=_bulk_order) if key.startswith("urls[")
    ]
    if not requests:
        raise BadInputError("API.getBulkRequest needs urls[0]=..., urls[1]=...", field="urls")
    if len(requests) > MOST_BULK_REQUESTS:
        raise BadInputError(f"at most {MOST_BULK_REQUESTS} requests in a bulk", field="urls")
    answers: list[object] = []
    for text in requests:
        inner = dict(parse_qsl(text, keep_blank_values=True))
        try:
            if inner.get("method", "") == BULK:
                raise BadInputError("a bulk request cannot hold another", field="method")
            answer = call(warehouse, inner.get("method", ""), inner, now=now, can_view=can_view)
            answers.append(plain(answer))
        except TallyError as error:
            if isinstance(error, TransientError):
                raise
            answers.append({"result": "error", "message": str(error)})
    return answers


def _bulk_order(item: tuple[str, str]) -> tuple[int, str]:
    key = item[0]
    inside = key[5:-1] if key.startswith("urls[") and key.endswith("]") else ""
    return (int(inside), key) if inside.isdigit() else (1_000_000, key)


def _asks_many_sites(text: str) -> bool:
    return "," in text or text.strip().lower() == "all"


def _sites(
    warehouse: Warehouse, text: str, can_view: SiteCheck | None = None
) -> list[tuple[int, str]]:
    """(idsite, time zone) of each site ``idSite`` names: ``1``, ``1,3`` or ``all``."""
    known = site_timezones(warehouse)
    if can_view is not None:
        allowed = {idsite: zone for idsite, zone in known.items() if can_view(idsite)}
        for part in text.split(","):  # a site outside the caller's rights: refused by name
            if part.strip().isdigit() and int(part) in known and int(part) not in allowed:
                raise AccessDeniedError(f"this token has no 'view' access to idSite {int(part)}")
        known = allowed
    text = text.strip().lower()
    if text == "all":
        return sorted(known.items())
    if not text:
        raise BadInputError("idSite is required (a site id, a list 1,2 or all)", field="idSite")
    sites = []
    for part in text.split(","):
        if not part.strip().isdigit():
            raise BadInputError(f"idSite {part!r} is not a site id", field="idSite")
        idsite = int(part)
        if idsite not in known:
            raise NotFoundError(f"no site with idSite {idsite} (see: tally site list)")
        sites.append((idsite, known[idsite]))
    return sites


# -- HTTP --------------------------------------------------------------------------------


def routes(
    settings: Settings,
    token_valid: TokenCheck,
    *,
    warehouse: Warehouse | None = None,
    run: Runner | None = None,
) -> list[BaseRoute]:
    """``/index.php`` (GET and POST) serving the Reporting API; every call needs a token.

    ``token_valid`` gives a token's rights (the server passes ``TokenStore.access``); the token
    comes as ``token_auth`` in the query string or form body, or ``Authorization: Bearer``.
    """
    opened: list[Warehouse] = [warehouse] if warehouse is not None else []
    entries = settings.web.report_cache_entries
    cache = ReportCache(entries) if entries else None

    def store() -> Warehouse:
        if not opened:
            opened.append(from_settings(settings))
        return opened[0]

    async def in_thread(_request: Request, function: Callable[[Warehouse], object]) -> object:
        return await asyncio.to_thread(function, store())

    runner = run or in_thread

    async def endpoint(request: Request) -> Response:
        params = await _request_params(request)
        output = params.get("format", "xml")  # Matomo's default format
        rights = await token_valid(_token(request, params))
        # an admin's (or a service) token sees every site; another user's, only theirs
        can_view = rights.can_view if isinstance(rights, Rights) and not rights.is_admin else None
        if not rights:
            return _respond(
                render_error("a valid token_auth is required for the Reporting API", output), 401
            )
        if params.get("module") != "API":
            return _respond(render_error("only module=API is served here", output), 400)
        try:
            # rendered in the runner's thread too: a big answer's JSON or XML would otherwise
            # hold the event loop (and every tracking request) while it is written
            if params.get("method") == BULK:
                rendered = await runner(
                    request, lambda store: render(bulk(store, params, can_view=can_view), "json")
                )
                return _respond(rendered)  # type: ignore[arg-type]
            method = params.get("method", "")
            unicode_bom = params.get("convertToUnicode", "1") != "0"
            rendered = await runner(
                request,
                lambda store: render(
                    call(store, method, params, cache=cache, can_view=can_view),
                    output,
                    unicode_bom=unicode_bom,
                ),
            )
            return _respond(rendered)  # type: ignore[arg-type]
        except NotFoundError as error:
            return _respond(render_error(str(error), output), 404)
        except AccessDeniedError as error:
            return _respond(render_error(str(error), output), 403)
        except TransientError as error:
            return _respond(render_error(str(error), output), 503)
        except TallyError as error:
            return _respond(render_error(str(error), output), 400)

    # Matomo answers at / as well as /index.php (its index.php is the directory's default);
    # the server sends API requests for / here (tally.server.app).
    return [Route("/index.php", endpoint, methods=["GET", "POST"])]


async def _request_params(request: Request) -> dict[str, str]:
    """The query string and, for a form POST, the body (body wins, as PHP's $_REQUEST)."""
    params = dict(request.query_params)
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            body = (await request.body()).decode("utf-8", errors="replace")
            params.update(parse_qsl(body, keep_blank_values=True))
    return params


def _token(request: Request, params: Mapping[str, str]) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return params.get("token_auth", "")


def _respond(rendered: Rendered, status: int = 200) -> Response:
    return Response(rendered.body, status_code=status, media_type=rendered.media_type)
