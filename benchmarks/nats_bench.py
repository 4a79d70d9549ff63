"""Tracking, loading and the stream engine on a three-server NATS JetStream cluster.

    python benchmarks/nats_bench.py                  # throughput: hits/s and per CPU-second
    python benchmarks/nats_bench.py --failures 100000  # the issue's kill -9 run, with counts

Throughput: the same flood of single GET hits (16 clients at once) through one `tally serve`
on the local hit log, then through 1 and 2 tracking nodes publishing to an R3 stream on a
three-server cluster; hits per second and hits per CPU-second of the serving processes
(tally serve(s), plus the NATS servers where they take part), side by side in one run.
Then: how fast one loader moves the stream into PostgreSQL (its one-off start-up, the load
warm, and the visit rebuild that follows a load), events per second through one partitioned
stream engine, and how long a killed (kill -9) `tally stream` process's partitions take to
be taken over by the other.

--failures N: three NATS servers, two tracking nodes and one loader; N hits while tracking
node 1, the loader and the NATS server leading the stream are each killed once (kill -9, at
25 %, 50 % and 75 % of the hits); then the counts: acknowledged, stored, duplicated.
Needs PostgreSQL (TALLY_TEST_POSTGRES_URL, default the local test server).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.web.jetstream_flood import (  # noqa: E402
    Deployment,
    Process,
    count,
    flood,
    wait_for,
)

from tally.warehouse import connect, registry  # noqa: E402

if TYPE_CHECKING:
    from tally.stream.engine import Engine
    from tally.stream.partitions import PartitionedEngine

POSTGRES = os.environ.get("TALLY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure(urls: list[str], pids: list[int], total: int) -> tuple[float, float]:
    """(hits/s, hits per CPU-second of ``pids``) for ``total`` hits."""
    before = sum(cpu_seconds(pid) for pid in pids)
    started = time.monotonic()
    acknowledged, refused, unanswered, _ = asyncio.run(flood(urls, total, concurrency=16))
    seconds = time.monotonic() - started
    spent = sum(cpu_seconds(pid) for pid in pids) - before
    assert len(acknowledged) == total, (len(refused), len(unanswered))
    return total / seconds, total / spent


def local_log(directory: Path, total: int) -> tuple[float, float]:
    from tests.nats_cluster import free_ports

    from tally.web import sites

    data = directory / "local"
    data.mkdir(parents=True)
    store = connect(f"duckdb:///{data}/warehouse.duckdb")
    store.migrate()
    sites.add_site(store, "Shop", ["https://shop.example"], "UTC")
    store.close()
    (port,) = free_ports(1)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TALLY_")},
        "TALLY_DATA_DIR": str(data),
        "TALLY_WEB__SERVE_LOADS": "false",
    }
    command = [sys.executable, "-m", "tally.server", "--host", "127.0.0.1", "--port", str(port)]
    server = Process("local", command, environment, directory / "local.log").start()
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        wait_for(lambda: httpx.get(f"{url}/health", timeout=2).is_success, 90, "no server")
        assert server.process is not None
        return measure([url], [server.process.pid], total)
    finally:
        server.stop()


def jetstream(directory: Path, nodes: int, total: int, database: str) -> tuple[float, float]:
    deployment = Deployment(directory / f"js{nodes}", database, nodes=nodes).start()
    try:
        assert deployment.cluster is not None and deployment.loader is not None
        deployment.loader.kill()  # tracking only: the loader is measured on its own
        pids = [s.process.pid for s in deployment.servers if s.process]
        pids += [p.pid for p in deployment.cluster.processes if p]
        return measure(deployment.urls, pids, total)
    finally:
        deployment.stop()


def visitor_record(number: int) -> bytes:
    """A hit of one of 2,000 visitors (by address) on one of 50 pages, one a second."""
    import json

    from tests.web.test_streamload import FIREFOX

    query = f"idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2Fp{number % 50}"
    minute, second = divmod(number % 3600, 60)
    record = {
        "q": query,
        "t": f"2026-03-10T12:{minute:02d}:{second:02d}",
        "ip": f"10.0.{(number % 2000) // 250}.{number % 250}",
        "ua": FIREFOX,
        "lang": "en",
        "auth": False,
        "via": "get",
    }
    return json.dumps(record).encode()


def loader_figures(directory: Path, total: int, database: str) -> dict[str, float]:
    """One loader moving ``total`` hits from the stream into web.hits (PostgreSQL): the
    device detector's first user agent (its patterns compiled once per process), then the
    load itself, warm (hits/s, hits per CPU-second of this process), then one rebuild of
    the visits of the day loaded (what ``tally web load --follow`` does after a load)."""
    from tests.nats_cluster import NatsCluster
    from tests.web.test_streamload import FIREFOX

    from tally.config import load_settings
    from tally.web import sites
    from tally.web.enrich import detect_device
    from tally.web.hitstream import HitStream
    from tally.web.loader import sessionize_alone
    from tally.web.streamload import StreamLoader

    cluster = NatsCluster(directory / "loader-nats").start()
    try:
        environ = {
            "TALLY_DATA_DIR": str(directory / "loader"),
            "TALLY_WAREHOUSE_URL": database,
            "TALLY_WEB__HIT_LOG_URL": cluster.url,
            "TALLY_WEB__HIT_STREAM": "LOADBENCH",
            "TALLY_WEB__HIT_STREAM_REPLICAS": "3",
            "TALLY_WEB__PROVIDER_LOOKUP": "false",
        }
        settings = load_settings(environ=environ)
        log = HitStream(settings.web)
        log.start()
        payloads = [visitor_record(n) for n in range(total)]
        for start in range(0, total, 5000):
            asyncio.run(log.append(payloads[start : start + 5000]))
        log.close()
        store = connect(database)
        store.migrate()
        sites.add_site(store, "Shop", ["https://shop.example"], "UTC")
        figures: dict[str, float] = {}
        started, cpu = time.monotonic(), time.process_time()
        detect_device(FIREFOX)
        figures["first_agent_s"] = time.monotonic() - started
        figures["first_agent_cpu_s"] = time.process_time() - cpu
        loader = StreamLoader(store, settings).start()
        started, cpu = time.monotonic(), time.process_time()
        loaded = 0
        while loaded < total and time.monotonic() - started < 1800:
            loaded += loader.load().loaded
        figures["hits_per_s"] = total / (time.monotonic() - started)
        figures["hits_per_cpu_s"] = total / (time.process_time() - cpu)
        loader.close()
        assert loaded == total, loaded
        started = time.monotonic()
        sessionize_alone(store, settings)
        figures["sessionize_s"] = time.monotonic() - started
        store.close()
        return figures
    finally:
        cluster.stop()


def engine_figures(directory: Path, total: int) -> tuple[float, float]:
    """(events/s through one partitioned engine from JetStream, take-over seconds: two
    ``tally stream`` processes, one killed with kill -9, until the other holds every
    partition)."""
    from tests.nats_cluster import NatsCluster
    from tests.stream.engine_cluster import EngineCluster, Webhook
    from tests.stream.test_partitions import RULES

    from tally.jetstream import Link
    from tally.stream.events import Event
    from tally.stream.partitions import PartitionedEngine, publish_events, stream_config
    from tally.stream.rules import parse_rules
    from tally.stream.settings import stream_settings

    cluster = NatsCluster(directory / "engine-nats").start()
    try:
        link = Link(cluster.url, name="bench").start()
        link.call(link.ensure_stream(stream_config()), timeout=60)
        now = time.time()
        events = [
            Event("sensors", f"s{n % 50}", now + n / total, {"v": n % 100}) for n in range(total)
        ]
        link.call(publish_events(link, events, 4), timeout=600)
        settings = stream_settings({"state_dir": str(directory / "engine")})
        running = PartitionedEngine(
            cluster.url, settings, parse_rules(RULES), {}, partitions=4, lease_seconds=10
        ).start()
        started = time.monotonic()
        wait_for(lambda: sum(e.received for e in _engines(running)) >= total, 600, "slow engine")
        rate = total / (time.monotonic() - started)
        running.stop()
        link.close()
    finally:
        cluster.stop()
    cluster = NatsCluster(directory / "takeover-nats").start()
    webhook = Webhook().start()
    engines = EngineCluster(directory / "takeover", cluster.url, webhook, lease_seconds=3.0)
    (directory / "takeover").mkdir()
    try:
        engines.start("a", "b")

        def shared() -> bool:
            owners = engines.owners()
            return len(owners) == 4 and len(set(owners.values())) == 2

        def taken_over() -> bool:
            owners = engines.owners()
            return len(owners) == 4 and len(set(owners.values())) == 1

        wait_for(shared, 120, "no share")
        engines.engines["a"].kill()  # kill -9 of one engine, holding two partitions
        killed = time.monotonic()
        wait_for(taken_over, 60, "no take-over")
        return rate, time.monotonic() - killed
    finally:
        engines.stop()
        webhook.stop()
        cluster.stop()


def _engines(running: PartitionedEngine) -> list[Engine]:
    """The engines of the partitions ``running`` owns now."""
    return [e for p in running.owned() if (e := running.engine(p)) is not None]


def failures(directory: Path, total: int, database: str) -> None:
    deployment = Deployment(directory / "failures", database, nodes=2).start()
    try:
        assert deployment.cluster is not None

        def kill_node() -> None:
            """kill -9 tracking node 1"""
            deployment.servers[1].kill()

        def kill_loader() -> None:
            """kill -9 the loader, start another"""
            deployment.restart_loader()

        def kill_leader() -> None:
            """kill -9 the NATS server leading the hit stream"""
            cluster = deployment.cluster
            assert cluster is not None  # checked above; a closure does not keep the narrowing
            cluster.kill(deployment.stream_leader())

        at = {total // 4: kill_node, total // 2: kill_loader, 3 * total // 4: kill_leader}
        started = time.monotonic()
        acknowledged, refused, unanswered, events = asyncio.run(
            flood(deployment.urls, total, at=at, concurrency=32)
        )
        sent = time.monotonic() - started
        deployment.wait_loaded(len(acknowledged), seconds=1800)
        store = connect(database)
        counts = count(store, acknowledged, refused, unanswered, total)
        store.close()
        print(f"sent {total:,} hits in {sent:.0f} s; loaded {time.monotonic() - started:.0f} s")
        for event in events:
            print(f"  {event}")
        for name, value in vars(counts).items():
            if name not in ("events", "seconds"):
                print(f"  {name}: {value:,}")
    finally:
        deployment.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", type=int, default=0, help="hits for the kill -9 run")
    parser.add_argument("--hits", type=int, default=3000, help="hits per throughput run")
    parser.add_argument(
        "--parts", default="tracking,loader,engine", help="which throughput parts to run"
    )
    arguments = parser.parse_args()
    print(f"load average before: {load_average()}")
    with (
        tempfile.TemporaryDirectory() as folder,
        registry.backend_for(POSTGRES).scratch_url(Path("."), POSTGRES) as database,
    ):
        directory = Path(folder)
        if arguments.failures:
            failures(directory, arguments.failures, database)
        else:
            throughput(directory, arguments.hits, database, arguments.parts.split(","))
    print(f"load average after: {load_average()}")


def throughput(directory: Path, hits: int, database: str, parts: list[str]) -> None:
    if "tracking" in parts:
        local = local_log(directory, hits)
        print(f"local hit log, 1 node: {local[0]:,.0f} hits/s, {local[1]:,.0f} per CPU-s")
        for nodes in (1, 2):
            with registry.backend_for(POSTGRES).scratch_url(Path("."), POSTGRES) as base:
                rate, per_cpu = jetstream(directory, nodes, hits, base)
            print(
                f"JetStream R3, {nodes} node(s): {rate:,.0f} hits/s "
                f"({rate / local[0]:.2f} x local), {per_cpu:,.0f} per CPU-s "
                "(nodes + 3 NATS servers)"
            )
    if "loader" in parts:
        loads = loader_figures(directory, hits, database)
        print(
            f"loader into PostgreSQL: first user agent {loads['first_agent_s']:.1f} s "
            f"({loads['first_agent_cpu_s']:.1f} CPU-s, once per process); then "
            f"{loads['hits_per_s']:,.0f} hits/s, {loads['hits_per_cpu_s']:,.0f} per CPU-s; "
            f"rebuilding the visits of those {hits:,} hits: {loads['sessionize_s']:.1f} s"
        )
    if "engine" in parts:
        rate, took = engine_figures(directory, 10_000)
        print(
            f"engine from JetStream: {rate:,.0f} events/s; take-over after kill -9 of a "
            f"tally stream process: {took:.1f} s (lease 3 s)"
        )


if __name__ == "__main__":
    main()
