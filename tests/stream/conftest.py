"""Stream test fixtures: a clock the test moves by hand, and a recording receiver."""

from __future__ import annotations

from typing import Any

import pytest

from tally.stream.notifiers import Notifier, ReceiverSpec


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class Recorder(Notifier):
    """Keeps what it is sent; fails the first ``failures`` sends to exercise retries."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__(ReceiverSpec(name="recorder", type="webhook", url="http://unused"))
        self.sent: list[dict[str, Any]] = []
        self.failures = failures

    def send(self, notification: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("receiver down")
        self.sent.append(notification)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
