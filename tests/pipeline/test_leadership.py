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


def test_kill_9_of_the_leading_scheduler_process_mid_step(
    nats_url: str, bucket: str, tmp_path
) -> None:
    """Two scheduler processes (tests/pipeline/lease_scheduler.py: the real loop and lease,
    a 0.3 s stand-in step); the leader is killed with kill -9 in the middle of a step. No
    two steps ever overlap (the killed one counted as running until the kill), and the
    other process leads within the lease + a third + 1 s of the kill."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    log = tmp_path / "steps.log"
    root = Path(__file__).resolve().parents[2]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(root / "src"), str(root), environment.get("PYTHONPATH", "")]
    )
    command = [sys.executable, "-m", "tests.pipeline.lease_scheduler", nats_url, bucket]
    processes = {
        name: subprocess.Popen(
            [*command, str(LEASE), str(log), name], env=environment, cwd=tmp_path
        )
        for name in ("a", "b")
    }

    def lines() -> list[tuple[str, str, float]]:
        if not log.exists():
            return []
        return [(w, n, float(t)) for w, n, t in (x.split() for x in log.read_text().splitlines())]

    try:
        wait_until(lambda: len(lines()) >= 6, 60)  # the leader has run a few steps
        leader = lines()[0][1]
        survivor = "b" if leader == "a" else "a"
        # kill it in the middle of a step: just after one of its starts
        seen = len(lines())
        wait_until(lambda: lines()[-1][0] == "start" and len(lines()) > seen, 10)
        os.kill(processes[leader].pid, signal.SIGKILL)
        killed_at = time.time()
        processes[leader].wait()
        took = wait_until(lambda: any(n == survivor for _, n, _ in lines()), 30)
        time.sleep(2)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
    steps: list[tuple[str, float, float]] = []
    open_steps: dict[str, float] = {}
    for what, name, at in lines():
        if what == "start":
            assert name not in open_steps
            open_steps[name] = at
        else:
            steps.append((name, open_steps.pop(name), at))
    assert list(open_steps) == [leader]  # the step the kill cut short
    steps.append((leader, open_steps[leader], killed_at))
    ordered = sorted(steps, key=lambda step: step[1])
    overlaps = [(a, b) for a, b in zip(ordered, ordered[1:], strict=False) if b[1] < a[2]]
    assert not overlaps
    names = [name for name, _, _ in ordered]
    assert names == sorted(names, key=lambda name: name == survivor)  # then only the survivor
    print(f"take-over {took:.2f} s after kill -9 (lease {LEASE} s)")
    assert took <= LEASE + LEASE / 3 + 1.0
