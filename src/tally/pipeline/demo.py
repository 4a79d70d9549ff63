"""The demo: generate realistic data for every source, then ingest → load → build.

Deterministic: the same seed and dates give the same lake files and the same warehouse
tables (apart from load-time columns whose names start with ``_``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

from tally.errors import TallyError
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.pipeline.ingest import land
from tally.pipeline.ledger import Ledger, new_run_id
from tally.pipeline.load import load_days
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


class Progress(Protocol):
    """Where the demo reports its long steps (the CLI draws them; tests pass nothing)."""

    def start(self, step: str, total: int | None = None) -> None: ...

    def advance(self, step: str) -> None: ...

    def finish(self, step: str, detail: str = "") -> None: ...


class _Silent:
    def start(self, step: str, total: int | None = None) -> None:
        pass

    def advance(self, step: str) -> None:
        pass

    def finish(self, step: str, detail: str = "") -> None:
        pass


def default_end() -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def run_demo(
    context: Context,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    end: dt.date | None = None,
    datasets: list[Dataset] | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Generate ``days`` days ending ``end`` and run the pipeline over them.

    Three passes, each its own progress step: generate and land every source's files, load
    them, build the models.
    """
    end = end or default_end()
    start = end - dt.timedelta(days=days - 1)
    shown = progress or _Silent()
    chosen = datasets if datasets is not None else list(all_datasets().values())
    summary = DemoSummary(start, end)
    run_id = new_run_id()
    # one session for both passes: closing DuckDB checkpoints it, once is enough
    with context.warehouse.session():
        _generate(context, DemoWorld(seed, start, end), chosen, summary, run_id, shown)
        _load(context, chosen, summary, run_id, shown)
    shown.start("build")
    summary.models = build(context, run_id=run_id)
    built = sum(1 for outcome in summary.models.values() if outcome == "ok")
    shown.finish("build", f"{built} of {len(summary.models)} models")
    return summary


def _days(summary: DemoSummary) -> list[dt.date]:
    count = (summary.end - summary.start).days + 1
    return [summary.start + dt.timedelta(days=offset) for offset in range(count)]


def _generate(
    context: Context,
    world: DemoWorld,
    chosen: list[Dataset],
    summary: DemoSummary,
    run_id: str,
    shown: Progress,
) -> None:
    """Sample each day of each dataset in the real file format and land it in the lake."""
    days = _days(summary)
    per_source: dict[str, int] = {}
    for dataset in chosen:
        per_source[dataset.source] = per_source.get(dataset.source, 0) + len(days)
    for source, total in per_source.items():
        shown.start(f"generate {source}", total)
    ledger = Ledger(context.warehouse)
    # day by day, as the world unfolds (the sampler's order is part of the determinism)
    for day in days:
        for dataset in chosen:
            with ledger.step(run_id, "ingest", dataset.source, dataset.name, day) as step:
                files = dataset.sample(day, world)
                # force: a demo with another seed replaces the files (old ones are kept)
                results = land(context, dataset, day, files, force=True)
                step.bytes = sum(r.size for r in results)
                step.rows_out = len(results)
            summary.files += len(results)
            shown.advance(f"generate {dataset.source}")
    for source in per_source:
        shown.finish(f"generate {source}")


def _load(
    context: Context, chosen: list[Dataset], summary: DemoSummary, run_id: str, shown: Progress
) -> None:
    days = _days(summary)
    shown.start("load", len(days) * len(chosen))
    for dataset in chosen:  # a dataset's days side by side where the warehouse allows
        for _, loaded in load_days(context, dataset, days, run_id):
            if isinstance(loaded, TallyError):
                raise loaded
            summary.rows[dataset.key] = summary.rows.get(dataset.key, 0) + loaded.rows
            summary.quarantined += len(loaded.bad_rows)
            shown.advance("load")
    shown.finish("load", f"{sum(summary.rows.values()):,} rows")


def demo_signups(seed: int, start: dt.date, end: dt.date) -> list[tuple[str, str, dt.date]]:
    """(user id, country, start day) of every subscription the demo world (the one
    ``run_demo`` draws the exports from) starts in the range: the people the demo's web
    traffic (``tally.web.demo``) sends through the site before they subscribe."""
    world = DemoWorld(seed, start, end)
    return [(s.user_id, s.country, s.start) for s in world.subscriptions if start <= s.start <= end]


def rebuild_web_marts(context: Context) -> dict[str, str]:
    """Build the models that read the web tables (and those downstream of them) again,
    after the demo's web traffic is loaded: the campaign attribution."""
    models = discover_models()
    chosen = {m.table for m in models if any(t.startswith("web.") for t in m.reads)}
    grown = True
    while grown:
        found = {m.table for m in models if m.reads & chosen} - chosen
        grown = bool(found)
        chosen |= found
    return build(context, [m for m in models if m.table in chosen])
