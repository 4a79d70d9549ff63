"""Events: what every input (HTTP, MQTT, pollers) turns its messages into.

An event has a source (``sensors``, ``tally.runs``), an event time (epoch seconds), a key
(device, sensor, site, source/dataset), numeric values and string labels, and may carry an
id (``stream.dedupe.field``) naming it uniquely within its source, so that a copy of it is
counted once (``tally.stream.dedupe``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from tally.errors import BadInputError


@dataclass(slots=True)
class Event:
    source: str
    key: str
    time: float
    values: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    id: str = ""  # empty: no id, every copy counts

    def as_json(self) -> dict[str, Any]:
        """The event as the engine's JSON (``id`` only when it has one: ``Event(**json)``
        reads it back)."""
        data: dict[str, Any] = {
            "source": self.source,
            "key": self.key,
            "time": self.time,
            "values": self.values,
            "labels": self.labels,
        }
        if self.id:
            data["id"] = self.id
        return data


class RejectedInput(BadInputError):
    """A payload or one event refused, with a short ``kind`` for the counters
    (``payload_too_large``, ``payload_too_deep``, ``not_json``)."""

    def __init__(self, kind: str, message: str, *, file: str = "", field: str | None = None):
        super().__init__(message, file=file, field=field)
        self.kind = kind


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def nesting(data: bytes) -> int:
    """How deep arrays and objects nest in JSON text, counted without parsing it (the
    parser itself recurses, and a deep enough payload raises RecursionError inside it)."""
    if data.count(b"[") + data.count(b"{") == 0:
        return 0
    brackets = _STRINGS.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)


def decode_payload(data: bytes, max_bytes: int, max_depth: int, where: str = "") -> Any:
    """JSON from one message or body, refused before parsing when it is over the size or
    nesting limits (``stream.inputs``); every refusal is a RejectedInput."""
    if len(data) > max_bytes:
        message = f"payload is over the limit of {max_bytes:,} bytes"
        raise RejectedInput("payload_too_large", message, file=where)
    if data.count(b"[") + data.count(b"{") > max_depth:  # only then can it be too deep
        depth = nesting(data)
        if depth > max_depth:
            message = f"JSON nests {depth} levels deep, over the limit of {max_depth}"
            raise RejectedInput("payload_too_deep", message, file=where)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
        raise RejectedInput("not_json", f"payload is not JSON: {error}", file=where) from None


def parse_time(raw: Any, where: str = "") -> float:
    """Epoch seconds from a number (seconds; milliseconds when > 1e11) or an ISO 8601 string."""
    if isinstance(raw, bool):
        raise BadInputError(f"time must be a number or ISO 8601 text, got {raw!r}", file=where)
    if isinstance(raw, int | float):
        value = float(raw)
        if not math.isfinite(value):
            raise BadInputError(f"time is not finite: {raw!r}", file=where, field="time")
        # sensors often send milliseconds; 1e11 s is the year 5138, so larger means ms
        return value / 1000.0 if value > 1e11 else value
    if isinstance(raw, str):
        try:
            parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as error:
            raise BadInputError(
                f"time {raw!r} is not ISO 8601", file=where, field="time"
            ) from error
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    raise BadInputError(f"time must be a number or ISO 8601 text, got {raw!r}", file=where)


def parse_id(raw: Any, where: str, id_field: str) -> str:
    """An event id: text or a whole number (an empty text means none)."""
    if type(raw) is str:
        return raw
    if type(raw) is int:
        return str(raw)
    message = f"an event id must be text or a whole number, got {raw!r}"
    raise BadInputError(message, file=where, field=id_field)


def parse_event(
    raw: Any,
    where: str = "",
    default_source: str = "",
    default_key: str = "",
    now: float = 0.0,
    id_field: str = "",
) -> Event:
    """One event from decoded JSON, its id read from ``id_field`` (none when empty);
    raises BadInputError naming the field that is wrong."""
    # written for speed (it runs once per event): plain lookups, checks only where needed
    if type(raw) is not dict:
        raise BadInputError(f"an event must be a JSON object, got {type(raw).__name__}", file=where)
    source = raw.get("source", default_source)
    key = raw.get("key", default_key)
    if type(source) is not str or not source:
        raise BadInputError("missing or empty text", file=where, field="source")
    if type(key) is not str:
        if type(key) is not int:
            raise BadInputError("missing or empty key", file=where, field="key")
        key = str(key)
    elif not key:
        raise BadInputError("missing or empty key", file=where, field="key")
    stamp = raw.get("time")
    if stamp is None:
        stamp = raw.get("timestamp", raw.get("ts"))
    if type(stamp) is float and 0 < stamp < 1e11:
        time = stamp
    else:
        time = now if stamp is None else parse_time(stamp, where)
    values = raw.get("values")
    numbers: dict[str, float] = {}
    if values:
        if type(values) is not dict:
            raise BadInputError("must be an object of numbers", file=where, field="values")
        for name, value in values.items():
            kind = type(value)
            if kind is float:
                numbers[name] = value
            elif kind is int:
                numbers[name] = float(value)
            else:
                message = f"not a number: {value!r}"
                raise BadInputError(message, file=where, field=f"values.{name}")
    event_id = ""
    if id_field:
        raw_id = raw.get(id_field)
        if raw_id is not None:
            event_id = parse_id(raw_id, where, id_field)
    labels = raw.get("labels")
    if not labels:
        return Event(source, key, time, numbers, {}, event_id)
    if type(labels) is not dict:
        raise BadInputError("must be an object of text", file=where, field="labels")
    return Event(source, key, time, numbers, {k: str(v) for k, v in labels.items()}, event_id)


def parse_batch(
    body: Any,
    where: str = "",
    now: float = 0.0,
    default_source: str = "",
    default_key: str = "",
    id_field: str = "",
) -> tuple[list[Event], list[str]]:
    """Events from one object, a JSON array or ``{"events": [...]}``; bad items become errors."""
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        items = body["events"]
    elif isinstance(body, list):
        items = body
    else:
        items = [body]
    events: list[Event] = []
    errors: list[str] = []
    for index, item in enumerate(items):
        try:
            events.append(
                parse_event(item, f"{where}[{index}]", default_source, default_key, now, id_field)
            )
        except BadInputError as error:
            errors.append(str(error))
    return events, errors
