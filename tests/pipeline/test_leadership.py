"""Several schedulers, one leader by a lease in JetStream key-value: steps never overlap."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from tally.jetstream import Link
from tally.pipeline import scheduler
from tally.pipeline.leadership import Leadership

pytestmark = pytest.mark.services

LEASE = 3.0


@pytest.fixture
def bucket(nats_url: str) -> Iterator[str]:
    name = f"lease_{uuid.uuid4().hex[:8]}"
    yield name
    link = Link(nats_url, name="test-cleanup").start()
    try:
        link.call(link.context().delete_key_value(name), timeout=10)
    except Exception:  # noqa: S110 (never created)
        pass
    finally:
        link.close()


def wait_until(check, seconds: float) -> float:
    """Seconds until ``check()`` held; fails past ``seconds``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "did not happen in time"
        time.sleep(0.05)
    return time.monotonic() - started


def test_one_leads_and_another_takes_over_when_it_stops_or_dies(nats_url: str, bucket: str) -> None:
    first = Leadership(nats_url, LEASE, bucket=bucket).start()
    wait_until(first.leads, 10)
    second = Leadership(nats_url, LEASE, bucket=bucket).start()
    try:
        time.sleep(LEASE / 2)
        assert not second.leads()  # the lease is held and renewed
        first.stop()  # hands the lease back: the second need not wait for it to expire
        wait_until(second.leads, LEASE)
        third = Leadership(nats_url, LEASE, bucket=bucket).start()
        # the second dies: its renewals stop, the lease is not released
        second._stop.set()
        second.link.close()
        took = wait_until(third.leads, 3 * LEASE)
        # not before the dead holder's lease ran out (less the renewal interval it had used)
        assert took >= LEASE / 3
        third.stop()
    finally:
        second.lease.revision = None  # already closed
        second.stop()


def test_two_schedulers_never_run_a_step_at_once(
    nats_url: str, bucket: str, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each scheduler "runs a step" of 0.3 s whenever due; the steps of the two never
    overlap, and when the leader dies the other carries on."""
    monkeypatch.setattr(scheduler, "Leadership", _bucketed(bucket))
    monkeypatch.setattr(scheduler, "abandon_dead_steps", lambda _warehouse: 0)
    monkeypatch.setattr(scheduler, "next_firing", lambda _settings, _now: None)
    steps: list[tuple[str, float, float]] = []

    def fake_run_due(context, *, catch_up_days, may_start):  # noqa: ARG001
        name = threading.current_thread().name
        if may_start():
            started = time.monotonic()
            time.sleep(0.3)
            steps.append((name, started, time.monotonic()))
        return []

    monkeypatch.setattr(scheduler, "run_due", fake_run_due)
    context = type("Context", (), {"settings": settings, "warehouse": None})()
    stops = {name: threading.Event() for name in ("a", "b")}
    threads = [
        threading.Thread(
            target=scheduler.run_forever,
            args=(context, stops[name], 0.05),
            kwargs={"lease": (nats_url, LEASE)},
            name=name,
        )
        for name in stops
    ]
    for thread in threads:
        thread.start()
    time.sleep(3)
    first = steps[0][0]
    stops[first].set()  # the leader stops (and hands the lease back)
    time.sleep(3)
    for stop in stops.values():
        stop.set()
    for thread in threads:
        thread.join(10)
    ordered = sorted(steps, key=lambda step: step[1])
    overlaps = [(a, b) for a, b in zip(ordered, ordered[1:], strict=False) if b[1] < a[2]]
    assert not overlaps
    assert {name for name, _, _ in steps} == {"a", "b"}  # the other took over


def _bucketed(bucket: str):
    class InBucket(Leadership):
        def __init__(self, url: str, seconds: float) -> None:
            super().__init__(url, seconds, bucket=bucket)

    return InBucket
