"""ELT figures from the run ledger, lake manifest and quarantine; ``/metrics`` for Prometheus.

The same functions feed the ELT monitoring dashboard, so a Grafana panel and tally's own
page show the same numbers. Freshness: a source with a schedule (``[sources.X] schedule``,
see tally.pipeline.scheduler) is expected to have landed the partition of its latest firing
(the firing's day minus its ``lag_days``); any other daily dataset the partition of
``expected_lag_days`` (default one) days before today, UTC.
The text format is written by ``prometheus_client`` (escaping, HELP/TYPE lines).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tally.config import Settings
from tally.errors import ConfigError
from tally.sources import all_datasets
from tally.warehouse import Warehouse
from tally.warehouse.meta import lake_files, quarantine
from tally.warehouse.meta import runs as ledger

logger = logging.getLogger(__name__)

DEFAULT_LAG_DAYS = 1


@dataclass(frozen=True)
class DatasetStatus:
    """Where one dataset stands: its newest partition against the one expected by now."""

    source: str
    dataset: str
    last_partition: dt.date | None
    last_landed_at: dt.datetime | None
    expected_partition: dt.date
    last_load_status: str | None
    last_load_at: dt.datetime | None
    rows_loaded: int
    quarantined: int
    failures: int

    @property
    def days_behind(self) -> int | None:
        if self.last_partition is None:
            return None
        return max(0, (self.expected_partition - self.last_partition).days)

    @property
    def freshness(self) -> str:
        """'fresh', 'late' (one or two partitions missing), 'stale' or 'never landed'."""
        behind = self.days_behind
        if behind is None:
            return "never landed"
        if behind == 0:
            return "fresh"
        return "late" if behind <= 2 else "stale"


def scheduled_partitions(settings: Settings, now: dt.datetime | None = None) -> dict[str, dt.date]:
    """Per scheduled source, the partition its latest firing up to ``now`` asked for."""
    from tally.pipeline.scheduler import schedules

    now = now or dt.datetime.now(dt.UTC)
    try:
        found = schedules(settings)
    except ConfigError as error:  # the scheduler reports it; the dashboard falls back
        logger.warning("freshness without schedules: %s", error)
        return {}
    expected = {}
    for schedule in found:
        days = schedule.partitions(now - dt.timedelta(days=8), now)
        if days:
            expected[schedule.source] = days[-1]
    return expected


def dataset_statuses(
    warehouse: Warehouse,
    today: dt.date | None = None,
    scheduled: dict[str, dt.date] | None = None,
) -> list[DatasetStatus]:
    """Every known dataset (and any other the ledger or lake names), with its figures.

    ``scheduled`` (from ``scheduled_partitions``) overrides the expected partition per source.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    scheduled = scheduled or {}
    with warehouse.session():  # five reads, one opening of the warehouse
        landed = {
            (row[0], row[1]): (row[2], row[3]) for row in lake_files.latest_per_dataset(warehouse)
        }
        # Datasets that share one landed file (no dataset folder in the key) have manifest
        # rows under the first of them only; their own successful ingest steps say when
        # they landed.
        ingested = {(row[0], row[1]): (row[2], row[3]) for row in ledger.latest_ingests(warehouse)}
        loads = {
            (row[0], row[1]): (int(row[2] or 0), int(row[3] or 0))
            for row in ledger.load_totals(warehouse)
        }
        latest = {
            (row[0], row[1]): (row[2], row[3]) for row in ledger.latest_load_status(warehouse)
        }
        quarantined = {
            (row[0], row[1]): int(row[2]) for row in quarantine.rows_per_dataset(warehouse)
        }
    lags = {
        (d.source, d.name): int(getattr(d, "expected_lag_days", DEFAULT_LAG_DAYS))
        for d in all_datasets().values()
    }
    keys = sorted(set(lags) | set(landed) | set(loads))
    statuses = []
    for key in keys:
        last_partition, last_landed = landed.get(key) or ingested.get(key, (None, None))
        rows, failed = loads.get(key, (0, 0))
        status, load_at = latest.get(key, (None, None))
        expected = scheduled.get(key[0]) or today - dt.timedelta(
            days=lags.get(key, DEFAULT_LAG_DAYS)
        )
        statuses.append(
            DatasetStatus(
                key[0],
                key[1],
                last_partition,
                last_landed,
                expected,
                status,
                load_at,
                rows,
                quarantined.get(key, 0),
                failed,
            )
        )
    return statuses


def run_counts(warehouse: Warehouse) -> list[tuple[str, str, str, str, int]]:
    """(job, source, dataset, status, steps) over the whole ledger."""
    return [
        (row[0], row[1] or "", row[2] or "", row[3], int(row[4]))
        for row in ledger.step_counts(warehouse)
    ]


def _seconds(value: dt.datetime | dt.date | None) -> float:
    if value is None:
        return float("nan")
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    return value.replace(tzinfo=dt.UTC).timestamp()


class LedgerCollector(Collector):
    """Reads the figures once per scrape (the warehouse is opened only for that)."""

    def __init__(
        self,
        warehouse: Warehouse,
        today: dt.date | None = None,
        scheduled: dict[str, dt.date] | None = None,
    ) -> None:
        self.warehouse = warehouse
        self.today = today
        self.scheduled = scheduled

    def collect(self) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "tally_run_steps",
            "Pipeline steps in the run ledger, by outcome",
            labels=["job", "source", "dataset", "status"],
        )
        for job, source, dataset, status, count in run_counts(self.warehouse):
            runs.add_metric([job, source, dataset, status], count)
        yield runs
        rows = CounterMetricFamily(
            "tally_rows_loaded",
            "Rows loaded into staging by successful loads",
            labels=["source", "dataset"],
        )
        quarantined = CounterMetricFamily(
            "tally_rows_quarantined",
            "Rows set aside in quarantine",
            labels=["source", "dataset"],
        )
        partition = GaugeMetricFamily(
            "tally_dataset_last_partition_timestamp_seconds",
            "Start (UTC) of the newest partition landed in the lake",
            labels=["source", "dataset"],
        )
        landed = GaugeMetricFamily(
            "tally_dataset_last_landed_timestamp_seconds",
            "When the newest file of the dataset landed",
            labels=["source", "dataset"],
        )
        behind = GaugeMetricFamily(
            "tally_dataset_days_behind",
            "Partitions missing up to the one expected by now (0 = fresh)",
            labels=["source", "dataset"],
        )
        for state in dataset_statuses(self.warehouse, self.today, self.scheduled):
            labels = [state.source, state.dataset]
            rows.add_metric(labels, state.rows_loaded)
            quarantined.add_metric(labels, state.quarantined)
            partition.add_metric(labels, _seconds(state.last_partition))
            landed.add_metric(labels, _seconds(state.last_landed_at))
            days = state.days_behind
            behind.add_metric(labels, float("nan") if days is None else days)
        yield from (rows, quarantined, partition, landed, behind)


class StreamCollector(Collector):
    """The stream engine's input counters (``Engine.stats()``), when the server runs one."""

    def __init__(self, stats: Callable[[], dict[str, Any]]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self.stats()
        received = CounterMetricFamily(
            "tally_stream_events_received", "Events the stream engine took in"
        )
        received.add_metric([], stats["received"])
        rejected = CounterMetricFamily(
            "tally_stream_events_rejected",
            "Events or payloads the stream inputs refused, by reason (time_ahead, "
            "time_too_old, payload_too_large, payload_too_deep, not_json, invalid, internal)",
            labels=["reason"],
        )
        for reason, count in sorted(stats["rejected_by_kind"].items()):
            rejected.add_metric([reason], count)
        restarts = CounterMetricFamily(
            "tally_stream_input_restarts",
            "Times a stream input's thread died and was started again",
            labels=["input"],
        )
        for name, count in sorted(stats["input_restarts"].items()):
            restarts.add_metric([name], count)
        duplicates = CounterMetricFamily(
            "tally_stream_events_duplicate",
            "Copies of events accepted lately that the stream engine dropped, by how it "
            "knew them (event_id: an id seen before; redelivery: an MQTT message its broker "
            "sent again)",
            labels=["kind"],
        )
        for kind, count in sorted(stats["duplicates_by_kind"].items()):
            duplicates.add_metric([kind], count)
        yield from (received, rejected, restarts, duplicates)


def exposition(
    warehouse: Warehouse,
    today: dt.date | None = None,
    scheduled: dict[str, dt.date] | None = None,
    stream: Callable[[], dict[str, Any]] | None = None,
) -> bytes:
    """The figures in Prometheus' text format (version 0.0.4); ``stream`` is a running
    engine's ``stats``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(warehouse, today, scheduled))
    if stream is not None:
        registry.register(StreamCollector(stream))
    return generate_latest(registry)


def routes(settings: Settings) -> list[Route]:
    """``/metrics``; the login wall lets it through with an API token or a session."""

    async def metrics(request: Request) -> Response:
        def collect() -> bytes:
            engine = getattr(request.app.state, "stream_engine", None)
            return exposition(
                request.app.state.warehouse,
                scheduled=scheduled_partitions(settings),
                stream=None if engine is None else engine.stats,
            )

        body = await asyncio.to_thread(collect)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics)]
