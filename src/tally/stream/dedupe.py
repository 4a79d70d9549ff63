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
import hashlib
import sys
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Entries:
    """A copy of a memory's entries, oldest first."""

    digests: array.array[int]
    times: array.array[float]

    def dump(self) -> dict[str, str]:
        """Packed arrays (base64 of little-endian uint64 digests and float64 times): the
        full default memory is about 2 MB in the checkpoint instead of 5 as JSON numbers.
        Encoding it takes milliseconds: the engine does it after releasing its lock."""
        return {"digests": _pack(self.digests), "times": _pack(self.times)}


class RecentDigests:
    """Digests in the order they were accepted, each with its time, in two parallel arrays
    (a checkpoint copies them in one step while the engine's lock is held: about 0.1 ms for
    the full default memory, where walking an ordered dict of it took 10-20 ms), and a dict
    from each digest to its newest entry (a check is one lookup). The oldest leave first."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._digests = array.array("Q")
        self._times = array.array("d")
        self._front = 0  # index of the oldest entry kept; those before are forgotten
        self._cut = 0  # entries cut off the arrays' front so far: entry number = index + cut
        self._newest: dict[int, int] = {}  # digest -> number of its newest entry

    def __len__(self) -> int:
        return len(self._newest)

    def __contains__(self, value: int) -> bool:
        return value in self._newest

    def seen(self, value: int, now: float) -> bool:
        """Whether ``value`` was accepted within the horizon."""
        self.forget_old(now)
        return value in self._newest

    def admit(self, value: int, now: float) -> bool:
        """Remember ``value`` unless it was accepted within the horizon (then False)."""
        self.forget_old(now)
        if value in self._newest:
            return False
        self._append(value, now)
        return True

    def remember(self, value: int, now: float) -> None:
        """Remember ``value``; accepted again, its horizon starts again (the older entry
        stays in the arrays until it leaves the front, but no longer counts)."""
        self.forget_old(now)
        self._append(value, now)

    def _append(self, value: int, now: float) -> None:
        self._newest[value] = len(self._digests) + self._cut
        self._digests.append(value)
        self._times.append(now)
        while len(self._newest) > self.limit:
            self._drop_oldest()

    def forget_old(self, now: float) -> None:
        """Drop the entries accepted more than ``seconds`` before ``now``."""
        horizon = now - self.seconds
        times = self._times
        while self._front < len(times) and times[self._front] < horizon:
            self._drop_oldest()
        if self._front > 4096 and self._front * 2 > len(times):
            # the forgotten half goes (one memmove), so the arrays stay about as long as
            # what is remembered
            del self._digests[: self._front], self._times[: self._front]
            self._cut += self._front
            self._front = 0

    def _drop_oldest(self) -> None:
        value = self._digests[self._front]
        if self._newest.get(value) == self._front + self._cut:  # not accepted again since
            del self._newest[value]
        self._front += 1

    def entries(self) -> Entries:
        """A copy of what is remembered (cheap: two array slices), to dump later."""
        return Entries(self._digests[self._front :], self._times[self._front :])

    def dump(self) -> dict[str, str]:
        return self.entries().dump()

    def load(self, data: dict[str, Any]) -> None:
        self._digests, self._times = _unpack("Q", data["digests"]), _unpack("d", data["times"])
        if len(self._digests) != len(self._times):
            raise ValueError("a dedupe memory needs as many times as digests")
        self._front = self._cut = 0
        self._newest = {value: number for number, value in enumerate(self._digests)}


def _pack(values: array.array[Any]) -> str:
    if sys.byteorder == "big":
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def _unpack(kind: str, text: str) -> array.array[Any]:
    values = array.array(kind, base64.b64decode(text))
    if sys.byteorder == "big":
        values.byteswap()
    return values
