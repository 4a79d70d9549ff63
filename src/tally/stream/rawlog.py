"""Raw events to the lake, batched: gzip JSON lines under
``thirdparty/internal/stream-events/YYYY/MM/DD/<file>`` (by event day, UTC)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import threading
import uuid
from typing import Any

from tally.lake import Lake
from tally.stream.events import Event

PREFIX = "thirdparty/internal/stream-events"


class RawLog:
    """Buffers events (late ones flagged) and writes one lake object per day per flush."""

    def __init__(self, lake: Lake | None, batch_events: int = 50_000) -> None:
        self.lake = lake
        self.batch_events = batch_events
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.written = 0
        self.keys: list[str] = []

    def add(self, events: list[Event], late: set[int] | None = None) -> bool:
        """Buffer events; True when the buffer is full and should be flushed."""
        if self.lake is None:
            return False
        with self._lock:
            for index, event in enumerate(events):
                record = event.as_json()
                if late and index in late:
                    record["late"] = True
                self._buffer.append(record)
            return len(self._buffer) >= self.batch_events

    def flush(self) -> list[str]:
        """Write what is buffered; returns the keys written."""
        with self._lock:
            records, self._buffer = self._buffer, []
        if not records or self.lake is None:
            return []
        encode = json.JSONEncoder(separators=(",", ":")).encode
        by_day: dict[int, list[str]] = {}
        for record in records:
            by_day.setdefault(int(record["time"] // 86400), []).append(encode(record))
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        keys = []
        for number, lines in sorted(by_day.items()):
            day = dt.datetime.fromtimestamp(number * 86400, dt.UTC).strftime("%Y/%m/%d")
            key = f"{PREFIX}/{day}/events-{stamp}-{uuid.uuid4().hex[:8]}.jsonl.gz"
            data = ("\n".join(lines) + "\n").encode()
            self.lake.put(key, gzip.compress(data, compresslevel=5))
            keys.append(key)
            self.written += len(lines)
        self.keys.extend(keys)
        return keys
