"""Reload / backfill: load a range of days again from the lake and rebuild what depends on them.

The seed's "data source reload": raw files are kept forever in the lake, so a reload never
fetches; it parses the landed files again into their staging partitions (each load replaces
its partition, so a backfill can be rerun) and then rebuilds every model downstream of the
reloaded staging tables. Each step writes its ledger row, plus one ``backfill`` row for the
whole job. From a notebook::

    from tally.pipeline.backfill import backfill
    backfill(context, date(2016, 10, 1), date(2016, 10, 31), sources=["viu-premium"])
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tally.errors import ConfigError, TallyError
from tally.pipeline.build import Model, build, discover_models
from tally.pipeline.context import Context
from tally.pipeline.ledger import Ledger, new_run_id
from tally.pipeline.load import Loaded, load_days
from tally.sources import Dataset, all_datasets

Progress = Callable[[str, int, int], None]  # (what was done, steps done, steps in all)


@dataclass
class BackfillOutcome:
    start: dt.date
    end: dt.date
    run_id: str
    loaded: dict[str, int] = field(default_factory=dict)  # "source/dataset YYYY-MM-DD" → rows
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # nothing landed for that day
    models: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from ``start`` to ``end``, both included."""
    if end < start:
        raise ConfigError(f"backfill range is empty: --from {start} is after --to {end}")
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def chosen_datasets(sources: Iterable[str] | None) -> list[Dataset]:
    """The datasets of the named sources (all when none are named); unknown names fail."""
    datasets = list(all_datasets().values())
    if not sources:
        return datasets
    wanted = set(sources)
    unknown = wanted - {d.source for d in datasets}
    if unknown:
        known = ", ".join(sorted({d.source for d in datasets}))
        raise ConfigError(f"unknown source(s) {', '.join(sorted(unknown))}; known: {known}")
    return [d for d in datasets if d.source in wanted]


def downstream(models: list[Model], tables: set[str]) -> list[Model]:
    """Models that read any of ``tables``, directly or through other models."""
    affected = set(tables)
    chosen: list[Model] = []
    changed = True
    while changed:
        changed = False
        for model in models:
            if model not in chosen and model.reads & affected:
                chosen.append(model)
                affected.add(model.table)
                changed = True
    return chosen


def backfill(
    context: Context,
    start: dt.date,
    end: dt.date,
    sources: Iterable[str] | None = None,
    progress: Progress | None = None,
    datasets: list[Dataset] | None = None,
) -> BackfillOutcome:
    """Reload every partition of the chosen sources (or exactly ``datasets``) in
    ``start..end``, then rebuild downstream."""
    days = days_between(start, end)
    datasets = datasets if datasets is not None else chosen_datasets(sources)
    outcome = BackfillOutcome(start, end, new_run_id())
    ledger = Ledger(context.warehouse)
    total = len(days) * len(datasets) + 1
    done = 0
    with ledger.step(outcome.run_id, "backfill", partition_date=start) as job:
        for dataset in datasets:  # a dataset's days side by side where the warehouse allows
            for day, loaded in load_days(context, dataset, days, outcome.run_id):
                name = f"{dataset.key} {day}"
                _note(outcome, name, loaded)
                done += 1
                if progress:
                    progress(name, done, total)
        staging = {d.staging_table for d in datasets}
        models = downstream(discover_models(), staging)
        outcome.models = build(context, models, run_id=outcome.run_id) if models else {}
        if progress:
            progress("build", total, total)
        job.rows_out = sum(outcome.loaded.values())
        if outcome.failed:
            job.status = "failed"
            job.error = f"{len(outcome.failed)} partition(s) failed; first: " + next(
                f"{k}: {v}" for k, v in outcome.failed.items()
            )
    return outcome


def _note(outcome: BackfillOutcome, name: str, loaded: Loaded | TallyError) -> None:
    if isinstance(loaded, TallyError):  # one bad partition never stops the others
        outcome.failed[name] = str(loaded)
        return
    if loaded.skipped:
        outcome.skipped.append(name)
    else:
        outcome.loaded[name] = loaded.rows
