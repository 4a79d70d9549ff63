"""The demo: generate realistic data for every source, then ingest → load → build.

Deterministic: the same seed and dates give the same lake files and the same warehouse
tables (apart from load-time columns whose names start with ``_``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from tally.pipeline.build import build
from tally.pipeline.context import Context
from tally.pipeline.ingest import land
from tally.pipeline.ledger import Ledger, new_run_id
from tally.pipeline.load import load
from tally.sources import Dataset, all_datasets
from tally.sources.demo import DemoWorld

DEFAULT_DAYS = 30
DEFAULT_SEED = 7


@dataclass
class DemoSummary:
    start: dt.date
    end: dt.date
    files: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    models: dict[str, str] = field(default_factory=dict)


def default_end() -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def run_demo(
    context: Context,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    end: dt.date | None = None,
    datasets: list[Dataset] | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Generate ``days`` days ending ``end`` and run the pipeline over them."""
    end = end or default_end()
    start = end - dt.timedelta(days=days - 1)
    world = DemoWorld(seed, start, end)
    chosen = datasets if datasets is not None else list(all_datasets().values())
    summary = DemoSummary(start, end)
    run_id = new_run_id()
    ledger = Ledger(context.warehouse)
    day = start
    while day <= end:
        with context.warehouse.session():
            for dataset in chosen:
                with ledger.step(run_id, "ingest", dataset.source, dataset.name, day) as step:
                    files = dataset.sample(day, world)
                    # force: a demo with another seed replaces the files (old ones are kept)
                    results = land(context, dataset, day, files, force=True)
                    step.bytes = sum(r.size for r in results)
                    step.rows_out = len(results)
                summary.files += len(results)
                loaded = load(context, dataset, day, run_id)
                summary.rows[dataset.key] = summary.rows.get(dataset.key, 0) + loaded.rows
                summary.quarantined += len(loaded.bad_rows)
        if progress:
            progress(f"{day}")
        day += dt.timedelta(days=1)
    summary.models = build(context, run_id=run_id)
    return summary
