"""Windowed aggregates: count, sum, min, max, mean, percentiles (pNN) and distinct count."""

from __future__ import annotations

import math
import re
from typing import Any

from tally.errors import ConfigError

SIMPLE = ("count", "sum", "min", "max", "mean")
PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")


def check_aggregate(name: str) -> str:
    """The name itself, or ConfigError listing what is allowed."""
    if name in SIMPLE or name == "distinct" or PERCENTILE.match(name):
        return name
    raise ConfigError(
        f"unknown aggregate {name!r}: expected count, sum, min, max, mean, distinct or pNN (p95)"
    )


class Accumulator:
    """Running state of one window; keeps raw values only when a percentile needs them."""

    __slots__ = ("count", "total", "low", "high", "samples", "seen")

    def __init__(self, keep_samples: bool = False, keep_distinct: bool = False) -> None:
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf
        self.samples: list[float] | None = [] if keep_samples else None
        self.seen: set[Any] | None = set() if keep_distinct else None

    def add(self, value: float, distinct: Any = None) -> None:
        self.count += 1
        self.total += value
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value
        if self.samples is not None:
            self.samples.append(value)
        if self.seen is not None:
            self.seen.add(distinct)

    def result(self, name: str) -> float:
        """The aggregate's value; NaN for an aggregate of nothing (except count)."""
        if name == "count":
            return float(self.count)
        if name == "distinct":
            return float(len(self.seen or ()))
        if self.count == 0:
            return math.nan
        if name == "sum":
            return self.total
        if name == "min":
            return self.low
        if name == "max":
            return self.high
        if name == "mean":
            return self.total / self.count
        matched = PERCENTILE.match(name)
        if matched and self.samples is not None:
            return percentile(self.samples, float(matched.group(1)))
        raise ConfigError(f"aggregate {name!r} was not prepared for this window")

    def dump(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "total": self.total,
            "low": None if self.count == 0 else self.low,
            "high": None if self.count == 0 else self.high,
            "samples": None if self.samples is None else list(self.samples),
            "seen": None if self.seen is None else sorted(map(str, self.seen)),
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> Accumulator:
        accumulator = cls(data["samples"] is not None, data["seen"] is not None)
        accumulator.count = data["count"]
        accumulator.total = data["total"]
        if data["low"] is not None:
            accumulator.low = data["low"]
            accumulator.high = data["high"]
        if data["samples"] is not None:
            accumulator.samples = list(data["samples"])
        if data["seen"] is not None:
            accumulator.seen = set(data["seen"])
        return accumulator


def needs(name: str) -> tuple[bool, bool]:
    """(keep samples, keep distinct values) for an aggregate."""
    return bool(PERCENTILE.match(name)), name == "distinct"


def percentile(values: list[float], rank: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, "linear")."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * rank / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


def merge(into: Accumulator, other: Accumulator) -> Accumulator:
    """Fold one accumulator into another (session windows merge when a gap closes)."""
    into.count += other.count
    into.total += other.total
    into.low = min(into.low, other.low)
    into.high = max(into.high, other.high)
    if into.samples is not None and other.samples is not None:
        into.samples.extend(other.samples)
    if into.seen is not None and other.seen is not None:
        into.seen |= other.seen
    return into
