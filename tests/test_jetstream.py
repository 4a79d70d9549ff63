"""``tally.jetstream.Link.call``: its own wait running out and a NATS request's own timeout
are told apart (both are ``TimeoutError`` since Python 3.11), each a ``JetStreamUnavailable``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import nats.errors
import pytest

from tally.jetstream import JetStreamUnavailable, Link

pytestmark = pytest.mark.services


@pytest.fixture
def link(nats_url: str) -> Iterator[Link]:
    connected = Link(nats_url, name="test-call").start()
    try:
        yield connected
    finally:
        connected.close()


def test_a_coroutine_still_running_at_the_timeout_is_the_link_not_answering(link: Link) -> None:
    with pytest.raises(JetStreamUnavailable, match=r"NATS did not answer within 0\.2 s"):
        link.call(asyncio.sleep(30), timeout=0.2)


def test_a_request_that_timed_out_inside_is_reported_as_that(link: Link) -> None:
    async def timed_out() -> None:
        raise nats.errors.TimeoutError

    with pytest.raises(JetStreamUnavailable, match=r"a NATS request timed out \(nats: timeout\)"):
        link.call(timed_out(), timeout=60)


def test_other_errors_and_results_come_back_as_they_are(link: Link) -> None:
    async def refused() -> None:
        raise nats.errors.NoRespondersError

    async def answer() -> int:
        return 42

    with pytest.raises(nats.errors.NoRespondersError):
        link.call(refused(), timeout=60)
    assert link.call(answer(), timeout=60) == 42
