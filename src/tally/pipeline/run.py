"""The daily job: ingest every configured dataset, load, build — one failure never stops
the others, and rerunning is safe (same bytes land as no-ops, loads replace partitions)."""

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


@dataclass
class DayOutcome:
    day: dt.date
    run_id: str
    loaded: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    not_ready: list[str] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def run_day(
    context: Context, day: dt.date, sources: list[str] | None = None, fetch: bool = True
) -> DayOutcome:
    """Ingest (when ``fetch``), load and build one day, recording every step."""
    outcome = DayOutcome(day, new_run_id())
    for dataset in _chosen(sources):
        try:
            if fetch:
                ingest(context, dataset, day, run_id=outcome.run_id)
            loaded = load(context, dataset, day, outcome.run_id)
            outcome.loaded[dataset.key] = loaded.rows
        except NotReadyError as error:
            outcome.not_ready.append(f"{dataset.key}: {error}")
        except TallyError as error:
            outcome.failed[dataset.key] = str(error)
    # only the day, its week and month, and the running totals from it on, where possible
    outcome.models = build_day(context, day, run_id=outcome.run_id)
    return outcome


def _chosen(sources: list[str] | None) -> list[Dataset]:
    return [d for d in all_datasets().values() if not sources or d.source in sources]
