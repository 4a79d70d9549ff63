"""A set read from the warehouse and kept in memory (known sites, API token hashes).

The server never keeps a warehouse connection open (DuckDB allows one writing process per
file), so lookups come from memory; the set is reloaded, in a worker thread, when it is
older than ``max_age`` or when a value is missing and the last load is older than
``miss_refresh_after`` (so a site added a moment ago is found, but a flood of unknown
ids cannot hammer the warehouse).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable

logger = logging.getLogger(__name__)


class CachedSet:
    """Membership in a set loaded by ``load()``; ``await contains(value)``."""

    def __init__(
        self,
        load: Callable[[], set[Hashable]],
        *,
        max_age: float = 30.0,
        miss_refresh_after: float = 0.5,
    ) -> None:
        self._load = load
        self.max_age = max_age
        self.miss_refresh_after = miss_refresh_after
        self._values: set[Hashable] = set()
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def contains(self, value: Hashable) -> bool:
        age = time.monotonic() - self._loaded_at
        if age > self.max_age or (value not in self._values and age > self.miss_refresh_after):
            await self.refresh()
        return value in self._values

    def known(self, value: Hashable) -> bool:
        """True when ``contains`` would answer True at once, without reloading: the value
        is in a set younger than ``max_age`` (a synchronous check for hot paths)."""
        return value in self._values and time.monotonic() - self._loaded_at <= self.max_age

    async def refresh(self) -> None:
        started = time.monotonic()
        async with self._lock:
            if self._loaded_at >= started:
                return  # another request reloaded while this one waited
            try:
                self._values = await asyncio.to_thread(self._load)
            except Exception as error:  # keep serving the last known set
                logger.warning("could not reload %s: %s", self._load.__name__, error)
            self._loaded_at = time.monotonic()

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")
