"""The in-memory set the server checks sites and tokens against."""

from __future__ import annotations

import asyncio

from tally.web.lookup import CachedSet


def test_a_miss_reloads_but_not_more_often_than_allowed() -> None:
    loads: list[int] = []
    contents = {1}

    def load() -> set:
        loads.append(1)
        return set(contents)

    cache = CachedSet(load, max_age=3600, miss_refresh_after=3600)

    async def scenario() -> tuple[bool, bool, bool]:
        first = await cache.contains(1)  # first use loads
        contents.add(2)
        second = await cache.contains(2)  # a miss, but the last load is too recent
        cache.miss_refresh_after = 0
        third = await cache.contains(2)  # a miss that may reload now finds it
        return first, second, third

    assert asyncio.run(scenario()) == (True, False, True)
    assert len(loads) == 2


def test_a_failing_load_keeps_the_last_known_set() -> None:
    calls = {"n": 0}

    def load() -> set:
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("warehouse locked")
        return {"a"}

    cache = CachedSet(load, max_age=0)
    assert asyncio.run(cache.contains("a")) is True
    assert asyncio.run(cache.contains("a")) is True  # reload failed; old set still answers
    assert calls["n"] == 2


def test_known_answers_only_from_a_loaded_set_that_is_not_stale() -> None:
    cache = CachedSet(lambda: {1}, max_age=3600)
    assert cache.known(1) is False  # nothing loaded yet: contains would have to load first
    assert asyncio.run(cache.contains(1)) is True
    assert (cache.known(1), cache.known(2)) == (True, False)  # 2 would need a reload
    cache.max_age = 0  # the set is now older than allowed: contains would reload
    assert cache.known(1) is False
