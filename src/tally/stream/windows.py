"""Event-time windows: tumbling, sliding (hopping), session and per-event, with a watermark.

The watermark is the largest event time seen minus ``delay`` (the out-of-orderness we
wait for). A window closes (is emitted) once the watermark passes its end. It is kept for
``lateness`` more seconds: a late event inside that grace updates it and it is emitted
again as an update. An event whose every window is older than that is *late*: counted and
handed back to the caller, which keeps it (the raw log), never silently dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tally.stream.aggregates import Accumulator, merge
from tally.stream.durations import Seconds


class WindowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["tumbling", "sliding", "session", "each"] = "tumbling"
    size: Seconds = Field(default=60.0, gt=0, description="window length, seconds")
    hop: Seconds | None = Field(default=None, gt=0, description="sliding: step between starts")
    gap: Seconds | None = Field(default=None, gt=0, description="session: idle gap that ends it")
    delay: Seconds = Field(default=0.0, ge=0, description="watermark lag behind the newest event")
    lateness: Seconds = Field(default=0.0, ge=0, description="grace after a window closes")

    @model_validator(mode="after")
    def _complete(self) -> WindowSpec:
        if self.kind == "sliding" and self.hop is None:
            raise ValueError("a sliding window needs hop (seconds between window starts)")
        if self.kind == "session" and self.gap is None:
            raise ValueError("a session window needs gap (idle seconds that end a session)")
        return self


@dataclass(slots=True)
class Slot:
    accumulator: Accumulator
    emitted: bool = False
    dirty: bool = False


@dataclass(slots=True)
class Closed:
    """A window result: emitted when the watermark passes ``end`` (again if updated late)."""

    key: str
    start: float
    end: float
    accumulator: Accumulator
    update: bool = False


class WindowStore:
    """Per-key windows of one shape, fed in event time."""

    def __init__(self, spec: WindowSpec, keep_samples: bool = False, keep_distinct: bool = False):
        self.spec = spec
        self.keep = (keep_samples, keep_distinct)
        self.slots: dict[str, dict[tuple[float, float], Slot]] = {}
        self.watermark = -math.inf
        self.late = 0
        self.updates = 0
        self._pending_each: list[Closed] = []
        # the earliest watermark at which advance() has anything to do: lets the hot path
        # skip scanning every key's windows after each batch
        self._due = math.inf

    def _fresh(self) -> Accumulator:
        return Accumulator(*self.keep)

    def assign(self, time: float) -> list[tuple[float, float]]:
        """The (start, end) windows an event time belongs to (tumbling and sliding)."""
        spec = self.spec
        if spec.kind == "tumbling":
            start = math.floor(time / spec.size) * spec.size
            return [(start, start + spec.size)]
        hop = spec.hop or spec.size
        last = math.floor(time / hop) * hop
        starts = []
        start = last
        while start > time - spec.size:
            starts.append(start)
            start -= hop
        return [(s, s + spec.size) for s in reversed(starts)]

    def add(self, key: str, time: float, value: float, distinct: Any = None) -> bool:
        """Fold one value in; False when the event is late beyond the allowed lateness."""
        spec = self.spec
        if spec.kind == "each":
            accumulator = self._fresh()
            accumulator.add(value, distinct)
            self._pending_each.append(Closed(key, time, time, accumulator))
            self.watermark = max(self.watermark, time - spec.delay)
            return True
        expiry = self.watermark - spec.lateness
        if spec.kind == "session":
            accepted = self._add_session(key, time, value, distinct, expiry)
        else:
            accepted = False
            windows = self.slots.setdefault(key, {})
            for bounds in self.assign(time):
                if bounds[1] <= expiry:
                    continue
                slot = windows.get(bounds)
                if slot is None:
                    slot = windows[bounds] = Slot(self._fresh())
                    if bounds[1] < self._due:
                        self._due = bounds[1]
                elif slot.emitted:
                    slot.dirty = True
                    self._due = min(self._due, bounds[1])
                slot.accumulator.add(value, distinct)
                accepted = True
        if not accepted:
            self.late += 1
            return False
        if time - spec.delay > self.watermark:
            self.watermark = time - spec.delay
        return True

    def _add_session(
        self, key: str, time: float, value: float, distinct: Any, expiry: float
    ) -> bool:
        gap = self.spec.gap or 0.0
        windows = self.slots.setdefault(key, {})
        start, end = time, time + gap
        touching = [b for b in windows if time < b[1] and end > b[0]]
        if not touching and end <= expiry:
            return False
        accumulator = self._fresh()
        accumulator.add(value, distinct)
        emitted = False
        for bounds in touching:
            slot = windows.pop(bounds)
            merge(accumulator, slot.accumulator)
            emitted = emitted or slot.emitted
            start, end = min(start, bounds[0]), max(end, bounds[1])
        windows[(start, end)] = Slot(accumulator, emitted=emitted, dirty=emitted)
        self._due = min(self._due, end)
        return True

    def see(self, time: float) -> None:
        """Move the watermark for an event that carries no value for this store."""
        if time - self.spec.delay > self.watermark:
            self.watermark = time - self.spec.delay

    def advance(self, watermark: float | None = None) -> list[Closed]:
        """Emit windows the watermark has passed; forget those past their lateness too."""
        if watermark is not None and watermark > self.watermark:
            self.watermark = watermark
        closed, self._pending_each = self._pending_each, []
        mark = self.watermark
        if mark < self._due:
            return closed
        lateness = self.spec.lateness
        expiry = mark - lateness
        due = math.inf
        for key, windows in list(self.slots.items()):
            for bounds, slot in list(windows.items()):
                if bounds[1] > mark:
                    due = min(due, bounds[1])
                    continue
                if not slot.emitted or slot.dirty:
                    closed.append(Closed(key, bounds[0], bounds[1], slot.accumulator, slot.emitted))
                    self.updates += slot.emitted
                    slot.emitted, slot.dirty = True, False
                if bounds[1] <= expiry:
                    del windows[bounds]
                else:
                    due = min(due, bounds[1] + lateness)
            if not windows:
                del self.slots[key]
        self._due = due
        closed.sort(key=lambda c: (c.end, c.key))
        return closed

    def repair(self, ceiling: float) -> bool:
        """Drop windows that start past ``ceiling`` and, if the watermark is past it, take
        the newest remaining window start as the watermark; True if anything changed."""
        repaired = False
        for key, windows in list(self.slots.items()):
            for bounds in [b for b in windows if b[0] > ceiling]:
                del windows[bounds]
                repaired = True
            if not windows:
                del self.slots[key]
        if self.watermark > ceiling:
            starts = [b[0] for windows in self.slots.values() for b in windows]
            self.watermark = max(starts, default=-math.inf)
            repaired = True
        self._due = -math.inf
        return repaired

    def open_windows(self) -> int:
        return sum(len(w) for w in self.slots.values())

    def dump(self) -> dict[str, Any]:
        return {
            "watermark": None if self.watermark == -math.inf else self.watermark,
            "late": self.late,
            "updates": self.updates,
            "slots": [
                [key, b[0], b[1], s.emitted, s.dirty, s.accumulator.dump()]
                for key, windows in self.slots.items()
                for b, s in windows.items()
            ],
        }

    def load(self, data: dict[str, Any]) -> None:
        self.watermark = -math.inf if data["watermark"] is None else data["watermark"]
        self.late = data["late"]
        self.updates = data.get("updates", 0)
        self.slots = {}
        self._due = -math.inf  # rescan on the next advance
        for key, start, end, emitted, dirty, accumulator in data["slots"]:
            self.slots.setdefault(key, {})[(start, end)] = Slot(
                Accumulator.load(accumulator), emitted, dirty
            )
