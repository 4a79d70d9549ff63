"""The memory of recently accepted ids and deliveries: bounded by count and by age, and the
same after a round trip through the checkpoint."""

from __future__ import annotations

import json
import random

from tally.stream.dedupe import RecentDigests, delivery_digest, digest, event_digest


def test_digests_are_stable_and_keep_parts_apart() -> None:
    assert event_digest("sensors", "e1") == event_digest("sensors", "e1")
    assert 0 <= event_digest("sensors", "e1") < 2**64
    # an event id is one within its source; a delivery is its topic and payload
    assert event_digest("sensors", "e1") != event_digest("meters", "e1")
    assert event_digest("ab", "c") != event_digest("a", "bc")
    assert delivery_digest(1, "sensors/s1", b"{}") != delivery_digest(1, "sensors/s2", b"{}")
    assert delivery_digest(1, "t", b"1") != delivery_digest(1, "t1", b"")
    assert delivery_digest(1, "t", b"1") != delivery_digest(2, "t", b"1")  # another message
    assert event_digest("sensors/s1", "{}") != delivery_digest(1, "sensors/s1", b"{}")
    # saved in checkpoints: the same value in every process and version
    assert event_digest("sensors", "e1") == digest(b"e7:sensorse1")


def test_admit_takes_a_value_once_within_the_horizon() -> None:
    recent = RecentDigests(limit=2, seconds=60)
    assert recent.admit(1, now=100.0) and not recent.admit(1, now=130.0)
    assert recent.admit(1, now=161.0)  # 61 s after it was accepted: forgotten
    assert recent.admit(2, now=162.0) and recent.admit(3, now=163.0)
    assert 1 not in recent and len(recent) == 2  # the limit pushed the oldest out


def test_an_entry_is_forgotten_after_its_seconds() -> None:
    recent = RecentDigests(limit=10, seconds=60)
    recent.remember(1, now=100.0)
    assert recent.seen(1, now=160.0)  # 60 s: still inside
    assert not recent.seen(1, now=160.5)
    assert len(recent) == 0


def test_accepting_again_starts_the_horizon_again() -> None:
    recent = RecentDigests(limit=10, seconds=60)
    recent.remember(1, now=100.0)
    recent.remember(2, now=120.0)
    recent.remember(1, now=150.0)
    assert not recent.seen(2, now=181.0) and recent.seen(1, now=181.0)


def test_the_oldest_go_first_past_the_limit() -> None:
    recent = RecentDigests(limit=3, seconds=3600)
    for value in range(5):
        recent.remember(value, now=100.0 + value)
    assert [value in recent for value in range(5)] == [False, False, True, True, True]


def test_a_round_trip_through_json_keeps_every_entry_and_its_time() -> None:
    recent = RecentDigests(limit=100, seconds=60)
    values = [digest(str(n).encode()) for n in range(50)] + [0, 2**64 - 1]
    for offset, value in enumerate(values):
        recent.remember(value, now=1_700_000_000.0 + offset / 4)
    loaded = RecentDigests(limit=100, seconds=60)
    loaded.load(json.loads(json.dumps(recent.dump())))
    assert loaded.dump() == recent.dump() and all(value in loaded for value in values)
    empty = RecentDigests(limit=100, seconds=60)
    empty.load(RecentDigests(limit=1, seconds=1).dump())
    assert len(empty) == 0


class Plain:
    """The memory's rules written the obvious way: value -> time last accepted."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds, self.times = limit, seconds, {}

    def forget(self, now: float) -> None:
        while self.times and next(iter(self.times.values())) < now - self.seconds:
            del self.times[next(iter(self.times))]  # insertion order is time order

    def remember(self, value: int, now: float) -> None:
        self.forget(now)
        self.times.pop(value, None)
        self.times[value] = now
        while len(self.times) > self.limit:
            del self.times[next(iter(self.times))]


def test_many_steps_agree_with_the_plain_rules_through_cuts_and_a_reload() -> None:
    """Values accepted again (their older entries left behind), the oldest pushed out by
    the limit or by age, the arrays cut several times, and a checkpoint round trip."""
    chooser = random.Random(7)
    recent, plain = RecentDigests(limit=3000, seconds=50), Plain(limit=3000, seconds=50)
    now = 0.0
    for step in range(40_000):
        now += chooser.random() * 0.01
        value = chooser.randrange(6000)
        plain.forget(now)
        expected = value in plain.times
        if step % 3:
            assert recent.admit(value, now) is not expected
            if not expected:
                plain.remember(value, now)
        else:
            recent.remember(value, now)
            plain.remember(value, now)
        if step == 20_000:
            reloaded = RecentDigests(limit=3000, seconds=50)
            reloaded.load(json.loads(json.dumps(recent.dump())))
            recent = reloaded
    assert recent._cut > 0  # the arrays were cut on the way
    assert sorted(v for v in range(6000) if recent.seen(v, now)) == sorted(plain.times)
