"""HTTP routes: ``POST /api/events`` and a read/write API for alerts, silences and rules.

No authentication here on purpose: ``tally.server`` mounts these routes behind its token
auth, as it does for every API route.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from tally.errors import BadInputError, ConfigError, NotFoundError, TransientError
from tally.stream.alerts import Alert, Matcher, Silence, iso
from tally.stream.durations import parse_duration
from tally.stream.engine import Engine, Ingested
from tally.stream.events import RejectedInput, decode_payload, parse_batch
from tally.stream.rules import parse_rules

MAX_ERRORS_SHOWN = 20


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, but no more than ``limit`` + 1 bytes of it held (enough to refuse it)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)


def routes(engine: Engine, prefix: str = "/api") -> list[BaseRoute]:
    """The stream's routes, bound to one engine, under ``prefix`` (``POST /api/events``...;
    a server that mounts them under its own ``/api/stream`` passes ``prefix=""``)."""

    async def post_events(request: Request) -> JSONResponse:
        limits = engine.settings.inputs
        try:
            data = await read_capped(request, limits.max_payload_bytes)
            body = decode_payload(data, limits.max_payload_bytes, limits.max_depth, "body")
        except RejectedInput as error:
            engine.reject(1, error.kind)
            return problem(413 if error.kind == "payload_too_large" else 400, str(error))
        events, errors = parse_batch(
            body, where="body", now=engine.clock(), id_field=engine.settings.dedupe.field
        )
        engine.reject(len(errors))
        events, refused = engine.screen(events)
        errors += refused
        ingested = Ingested(0, 0, 0)
        if events and engine.blocking_ingest:  # published to JetStream: waits for the acks
            try:
                ingested = await asyncio.to_thread(engine.ingest, events)
            except TransientError as error:
                return problem(503, f"events not stored, send them again: {error}")
        elif events:
            ingested = engine.ingest(events)
        status = 400 if errors and not events else 202
        return JSONResponse(
            {
                "accepted": ingested.accepted,
                "late": ingested.late,
                "duplicates": ingested.duplicates,
                "rejected": len(errors),
                "errors": errors[:MAX_ERRORS_SHOWN],
            },
            status_code=status,
        )

    async def get_alerts(request: Request) -> JSONResponse:
        wanted = request.query_params.get("state")
        alerts = [alert_json(alert, muted) for alert, muted in engine.alert_list(wanted)]
        return JSONResponse({"alerts": alerts})

    async def get_silences(_request: Request) -> JSONResponse:
        now = engine.clock()
        silences = engine.silences.read()
        return JSONResponse(
            {"silences": [dict(s.model_dump(), active=s.active(now)) for s in silences]}
        )

    async def post_silence(request: Request) -> JSONResponse:
        try:
            silence = silence_from(await request.json(), engine.clock())
        except (json.JSONDecodeError, BadInputError, ValidationError, ValueError) as error:
            return problem(400, str(error))
        engine.add_silence(silence)
        return JSONResponse(silence.model_dump(), status_code=201)

    async def delete_silence(request: Request) -> JSONResponse:
        try:
            silence = engine.expire_silence(request.path_params["silence_id"])
        except NotFoundError as error:
            return problem(404, str(error))
        return JSONResponse(silence.model_dump())

    async def get_rules(_request: Request) -> JSONResponse:
        specs = [
            r.spec.model_dump(by_alias=True, exclude_defaults=True) for r in engine.rules.values()
        ]
        return JSONResponse({"rules": specs})

    async def put_rule(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        try:
            body = await request.json()
            spec = parse_rules([dict(body, name=name)], where="body")[0]
        except (json.JSONDecodeError, ConfigError) as error:
            return problem(400, str(error))
        engine.put_rule(spec)
        return JSONResponse(spec.model_dump(by_alias=True, exclude_defaults=True))

    async def delete_rule(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        if name not in engine.rules:
            return problem(404, f"no rule named {name!r}")
        engine.delete_rule(name)
        return JSONResponse({"deleted": name})

    async def get_notifications(request: Request) -> JSONResponse:
        limit = int(request.query_params.get("limit", "100"))
        return JSONResponse({"notifications": engine.log.read()[-limit:]})

    async def get_stats(_request: Request) -> JSONResponse:
        return JSONResponse(engine.stats())

    return [
        Route(f"{prefix}/events", post_events, methods=["POST"]),
        Route(f"{prefix}/alerts", get_alerts, methods=["GET"]),
        Route(f"{prefix}/silences", get_silences, methods=["GET"]),
        Route(f"{prefix}/silences", post_silence, methods=["POST"]),
        Route(f"{prefix}/silences/{{silence_id}}", delete_silence, methods=["DELETE"]),
        Route(f"{prefix}/rules", get_rules, methods=["GET"]),
        Route(f"{prefix}/rules/{{name}}", put_rule, methods=["PUT"]),
        Route(f"{prefix}/rules/{{name}}", delete_rule, methods=["DELETE"]),
        Route(f"{prefix}/notifications", get_notifications, methods=["GET"]),
        Route(f"{prefix}/stream/stats", get_stats, methods=["GET"]),
    ]


def problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"error": detail}, status_code=status)


def silence_from(body: Any, now: float) -> Silence:
    """A silence from ``{"matchers": ["key=s1", ...], "duration": "2h", "comment": ...}``."""
    if not isinstance(body, dict):
        raise BadInputError("a silence must be a JSON object")
    matchers = [
        Matcher.parse(m) if isinstance(m, str) else Matcher.model_validate(m)
        for m in body.get("matchers", [])
    ]
    if not matchers:
        raise BadInputError("a silence needs at least one matcher", field="matchers")
    starts = float(body.get("starts_at", now))
    if "ends_at" in body:
        ends = float(body["ends_at"])
    else:
        ends = starts + float(parse_duration(body.get("duration", "1h")))
    return Silence(
        matchers=matchers,
        starts_at=starts,
        ends_at=ends,
        created_by=str(body.get("created_by", "")),
        comment=str(body.get("comment", "")),
    )


def alert_json(alert: Alert, muted: str | None) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "rule": alert.rule,
        "key": alert.key,
        "state": alert.state,
        "labels": alert.labels,
        "summary": alert.summary,
        "value": alert.value if math.isfinite(alert.value) else str(alert.value),
        "active_since": iso(alert.active_since),
        "fired_at": iso(alert.fired_at) if alert.fired_at else None,
        "resolved_at": iso(alert.resolved_at) if alert.resolved_at else None,
        "muted": muted,
    }


def build_engine(settings: Any) -> Engine:
    """For ``tally serve``: the configured engine, started (its threads are daemons; the
    last checkpoint is at most ``stream.checkpoint_every`` old when the process ends).

    With ``stream.jetstream.url`` set, the engines are ``tally stream`` processes sharing
    partitions through JetStream: ``POST /api/events`` then publishes the events there
    (answering 202 after JetStream's acknowledgement) instead of evaluating them here."""
    import atexit

    from tally.stream.service import build_engine as assemble
    from tally.stream.settings import stream_settings

    stream = stream_settings(settings)
    if stream.jetstream.url:
        from tally.stream.partitions import JetStreamSink

        sink = JetStreamSink.connect(stream)
        atexit.register(sink.stop)
        return sink
    engine = assemble(settings)
    engine.start()
    atexit.register(engine.stop)
    return engine
