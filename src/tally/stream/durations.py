"""Durations in settings and rules: a number of seconds or text like ``10s``, ``5m``, ``1h30m``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(raw: Any) -> Any:
    """Seconds from ``90``, ``"90"``, ``"1m30s"``; anything else is left for pydantic to reject."""
    if isinstance(raw, str):
        text = raw.strip().replace(" ", "")
        try:
            return float(text)
        except ValueError:
            pass
        parts = PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"not a duration: {raw!r} (e.g. 30, '10s', '5m', '1h30m')")
        return sum(float(number) * UNITS[unit] for number, unit in parts)
    return raw


Seconds = Annotated[float, BeforeValidator(parse_duration)]
