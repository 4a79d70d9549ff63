"""Raw events to the lake, batched: gzip JSON lines under
``thirdparty/internal/stream-events/YYYY/MM/DD/<file>`` (by event day, UTC)."""

from __future__ import annotations

import datetime as dt
import gzip
import threading
import uuid
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]

from tally.lake import Lake
from tally.stream.events import Event

PREFIX = "thirdparty/internal/stream-events"


# The C encoder made once and fed dicts directly: json.dumps per line costs twice as much,
# and this runs for every event tally receives.
_encode_dict = c_make_encoder(
    None, None, encode_basestring_ascii, None, ":", ",", False, False, True
)


def json_line(event: Event, late: bool = False) -> str:
    """One event as a JSON object (fields as in ``Event.as_json``, plus ``late``)."""
    values = "".join(_encode_dict(event.values, 0)) if event.values else "{}"
    labels = "".join(_encode_dict(event.labels, 0)) if event.labels else "{}"
    tail = ',"late":true}' if late else "}"
    if event.id:
        tail = f',"id":{encode_basestring_ascii(event.id)}{tail}'
    return (
        f'{{"source":{encode_basestring_ascii(event.source)},'
        f'"key":{encode_basestring_ascii(event.key)},"time":{event.time!r},'
        f'"values":{values},"labels":{labels}{tail}'
    )


class RawLog:
    """Buffers events (late ones flagged) and writes one lake object per day per flush."""

    def __init__(self, lake: Lake | None, batch_events: int = 50_000) -> None:
        self.lake = lake
        self.batch_events = batch_events
        self._buffer: list[tuple[list[Event], set[int] | None]] = []
        self._count = 0
        self._lock = threading.Lock()
        self.written = 0
        self.keys: list[str] = []

    @property
    def full(self) -> bool:
        return self._count >= self.batch_events

    def add(self, events: list[Event], late: set[int] | None = None) -> bool:
        """Buffer events; True when the buffer is full and should be flushed."""
        if self.lake is None or not events:
            return False
        with self._lock:
            self._buffer.append((events, late or None))
            self._count += len(events)
            return self._count >= self.batch_events

    def flush(self) -> list[str]:
        """Write what is buffered; returns the keys written."""
        with self._lock:
            batches, self._buffer, self._count = self._buffer, [], 0
        if not batches or self.lake is None:
            return []
        by_day: dict[int, list[str]] = {}
        for events, late in batches:
            for index, event in enumerate(events):
                line = json_line(event, late is not None and index in late)
                by_day.setdefault(int(event.time // 86400), []).append(line)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        keys = []
        for number, lines in sorted(by_day.items()):
            day = dt.datetime.fromtimestamp(number * 86400, dt.UTC).strftime("%Y/%m/%d")
            key = f"{PREFIX}/{day}/events-{stamp}-{uuid.uuid4().hex[:8]}.jsonl.gz"
            data = ("\n".join(lines) + "\n").encode()
            # level 1: half the CPU of level 5 for a file ~9 % larger
            self.lake.put(key, gzip.compress(data, compresslevel=1))
            keys.append(key)
            self.written += len(lines)
        self.keys.extend(keys)
        return keys
