"""Tracking nodes, a loader and three NATS servers as real processes, each killed (kill -9)
once while hits flood in: no acknowledged hit is lost or stored twice.

The issue's 100,000-hit run is ``python benchmarks/nats_bench.py --failures``; this is the
same scenario with fewer hits, small enough for the suite."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.web.jetstream_flood import Deployment, count, flood

from tally.warehouse import connect, registry

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    with registry.backend_for(postgres_url).scratch_url(Path("."), postgres_url) as url:
        yield url


def test_kill_9_of_a_node_the_loader_and_the_stream_leader_loses_no_acknowledged_hit(
    tmp_path: Path, postgres_database: str, nats_cluster: object
) -> None:
    del nats_cluster  # only for its skip when nats-server is missing; the deployment has its own
    deployment = Deployment(tmp_path, postgres_database, nodes=2, batch=200).start()
    try:
        total = 1_500

        def kill_node() -> None:
            """kill -9 tracking node 1"""
            deployment.servers[1].kill()

        def kill_loader() -> None:
            """kill -9 the loader, start another"""
            deployment.restart_loader()

        def kill_leader() -> None:
            """kill -9 the NATS server leading the hit stream"""
            assert deployment.cluster is not None
            deployment.cluster.kill(deployment.stream_leader())

        at = {total // 4: kill_node, total // 2: kill_loader, 3 * total // 4: kill_leader}
        acknowledged, refused, unanswered, events = asyncio.run(
            flood(deployment.urls, total, at=at, concurrency=8)
        )
        deployment.wait_loaded(len(acknowledged))
        store = connect(postgres_database)
        try:
            counts = count(store, acknowledged, refused, unanswered, total)
        finally:
            store.close()
    finally:
        deployment.stop()
    print(counts, events)
    assert len(events) >= 3  # the three kills happened (and node 1 was left out)
    assert counts.acknowledged > total // 2
    assert counts.acknowledged_missing == 0
    assert counts.duplicated == 0
    assert counts.acknowledged_stored_once == counts.acknowledged
    # a hit without an answer is stored once or not at all (duplicated == 0 covers "once")
    assert counts.stored == counts.acknowledged + counts.unanswered_stored
