"""A bounded memory of what the engine accepted lately, so that a copy is counted once.

Two things are remembered, as 64-bit blake2b digests (never the ids or payloads themselves,
so memory and checkpoint size depend on the count, not on what senders put in an id):

- event ids (``stream.dedupe.field``, by source): an event whose source and id were
  accepted within the horizon is a copy, whatever input brought it (an HTTP client
  retrying a POST whose answer it lost, a JetStream redelivery, an MQTT resend);
- MQTT deliveries (packet id, topic and payload): a message the broker marks as a
  redelivery (DUP) whose packet id, topic and payload were accepted within the horizon is
  the same message again. A broker resends with the original packet id (MQTT 3.1.1,
  4.4), and an identical reading published again gets another one: so a redelivered
  message that never reached us is not taken for an earlier identical reading.

An entry is forgotten ``seconds`` after it was last accepted, or earlier when more than
``limit`` are held (oldest first). With 64-bit digests two different ids collide with a
chance of about n² / 2⁶⁵: under 10⁻⁹ for the default 100,000 entries.
"""

from __future__ import annotations

import array
import base64
import collections
import hashlib
import sys
from typing import Any


def digest(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


# One text per digest, built in one step (this runs for every event with an id and every
# MQTT message): a kind letter, so an id never matches a delivery, and the first part's
# length, so that ("ab", "c") and ("a", "bc") differ.


def event_digest(source: str, event_id: str) -> int:
    """An event id is unique within its source (as CloudEvents' ``source`` + ``id``)."""
    return digest(f"e{len(source)}:{source}{event_id}".encode())


def delivery_digest(packet_id: int, topic: str, payload: bytes) -> int:
    return digest(f"m{packet_id}:{len(topic)}:{topic}".encode() + payload)


class RecentDigests:
    """Digests with the time each was last accepted, oldest first."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._accepted_at: collections.OrderedDict[int, float] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._accepted_at)

    def __contains__(self, value: int) -> bool:
        return value in self._accepted_at

    def seen(self, value: int, now: float) -> bool:
        """Whether ``value`` was accepted within the horizon."""
        self.forget_old(now)
        return value in self._accepted_at

    def admit(self, value: int, now: float) -> bool:
        """Remember ``value`` unless it was accepted within the horizon (then False)."""
        self.forget_old(now)
        if value in self._accepted_at:
            return False
        self._accepted_at[value] = now  # new: at the end already
        if len(self._accepted_at) > self.limit:
            self._accepted_at.popitem(last=False)
        return True

    def remember(self, value: int, now: float) -> None:
        self._accepted_at[value] = now
        self._accepted_at.move_to_end(value)  # a value accepted again starts its horizon again
        self.forget_old(now)

    def forget_old(self, now: float) -> None:
        entries = self._accepted_at
        while len(entries) > self.limit:
            entries.popitem(last=False)
        horizon = now - self.seconds
        while entries:
            oldest = next(iter(entries.values()))
            if oldest >= horizon:
                return
            entries.popitem(last=False)

    def dump(self) -> dict[str, str]:
        """Packed arrays (base64 of little-endian uint64 digests and float64 times): the
        full default memory is about 2 MB in the checkpoint instead of 5 as JSON numbers."""
        digests = array.array("Q", self._accepted_at.keys())
        times = array.array("d", self._accepted_at.values())
        return {"digests": _pack(digests), "times": _pack(times)}

    def load(self, data: dict[str, Any]) -> None:
        digests, times = _unpack("Q", data["digests"]), _unpack("d", data["times"])
        self._accepted_at = collections.OrderedDict(zip(digests, times, strict=True))


def _pack(values: array.array[Any]) -> str:
    if sys.byteorder == "big":
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def _unpack(kind: str, text: str) -> array.array[Any]:
    values = array.array(kind, base64.b64decode(text))
    if sys.byteorder == "big":
        values.byteswap()
    return values
