"""The daily job: ingest every configured dataset, load, build — one failure never stops
the others, and rerunning is safe (same content lands as a no-op, loads replace partitions).

A partition already in the lake is not downloaded again unless asked (``refetch``): a rerun
for a sibling dataset that was not ready must not fetch, and risk, what has landed. A
dataset whose origin has not published the day yet is ``not_ready`` (its own ledger status,
retried on schedule) until its deadline (``Dataset.deadline_hours`` after the day ends,
overridable per dataset in ``[sources.<name>] deadline_hours``); past it, the day fails.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from tally.errors import NotReadyError, TallyError
from tally.pipeline.context import Context
from tally.pipeline.incremental import build_day
from tally.pipeline.ingest import ingest
from tally.pipeline.ledger import new_run_id
from tally.pipeline.load import load
from tally.sources import Dataset, all_datasets
from tally.sources._settings import source_settings
from tally.warehouse.meta import lake_files


@dataclass
class DayOutcome:
    day: dt.date
    run_id: str
    loaded: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    not_ready: list[str] = field(default_factory=list)
    already_landed: list[str] = field(default_factory=list)  # not fetched again
    models: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def run_day(
    context: Context,
    day: dt.date,
    sources: list[str] | None = None,
    fetch: bool = True,
    refetch: bool = False,
    now: dt.datetime | None = None,
    datasets: list[Dataset] | None = None,
) -> DayOutcome:
    """Ingest (when ``fetch``; landed partitions only with ``refetch``), load and build one
    day, recording every step."""
    outcome = DayOutcome(day, new_run_id())
    for dataset in datasets if datasets is not None else _chosen(sources):
        try:
            if fetch and (refetch or not landed(context, dataset, day)):
                ingest(context, dataset, day, run_id=outcome.run_id)
            elif fetch:
                outcome.already_landed.append(dataset.key)
            loaded = load(context, dataset, day, outcome.run_id)
            outcome.loaded[dataset.key] = loaded.rows
        except NotReadyError as error:
            late = past_deadline(context, dataset, day, now)
            if late:
                outcome.failed[dataset.key] = f"{late}: {error}"
            else:
                outcome.not_ready.append(f"{dataset.key}: {error}")
        except TallyError as error:
            outcome.failed[dataset.key] = str(error)
    # only the day, its week and month, and the running totals from it on, where possible
    outcome.models = build_day(context, day, run_id=outcome.run_id)
    return outcome


def landed(context: Context, dataset: Dataset, day: dt.date) -> bool:
    """Whether the lake's manifest holds a current file of this partition."""
    return lake_files.has_partition(context.warehouse, dataset.source, dataset.name, day)


def deadline_hours(context: Context, dataset: Dataset) -> float:
    """The dataset's deadline: its settings (a number, or dataset → hours), else its class."""
    configured = source_settings(context.settings, dataset.source).get("deadline_hours")
    if isinstance(configured, dict):
        configured = configured.get(dataset.name)
    return float(configured) if configured is not None else dataset.deadline_hours


def past_deadline(
    context: Context, dataset: Dataset, day: dt.date, now: dt.datetime | None = None
) -> str:
    """A sentence when the partition is still not published past its deadline, else ""."""
    hours = deadline_hours(context, dataset)
    day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
    waited = ((now or dt.datetime.now(dt.UTC)) - day_end).total_seconds() / 3600
    if waited <= hours:
        return ""
    return f"not ready {waited:.0f} h after the day ended (deadline {hours:g} h)"


def _chosen(sources: list[str] | None) -> list[Dataset]:
    return [d for d in all_datasets().values() if not sources or d.source in sources]
