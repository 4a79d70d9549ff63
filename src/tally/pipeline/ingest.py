"""Ingest: bring one day of a dataset's raw files into the lake and the manifest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tally.lake import PutResult, lake_key
from tally.pipeline.context import Context
from tally.pipeline.ledger import Ledger, new_run_id, utc_now
from tally.sources import Dataset
from tally.warehouse.meta import lake_files


def dataset_key(dataset: Dataset, day: dt.date, file_name: str) -> str:
    return lake_key(dataset.zone, dataset.source, dataset.lake_dataset, day, file_name)


def land(
    context: Context, dataset: Dataset, day: dt.date, files: dict[str, bytes], force: bool = False
) -> list[PutResult]:
    """Put raw files in the lake and record each in the manifest (``meta.lake_files``)."""
    results = []
    for file_name, data in sorted(files.items()):
        result = context.lake.put(dataset_key(dataset, day, file_name), data, force=force)
        # several datasets may share one file (GA's four series): each gets its manifest row
        if result.status != "unchanged" or not _recorded(context, dataset, result.key):
            _record(context, dataset, day, result)
        results.append(result)
    return results


def _recorded(context: Context, dataset: Dataset, key: str) -> bool:
    return lake_files.is_recorded(context.warehouse, key, dataset.source, dataset.name)


def _record(context: Context, dataset: Dataset, day: dt.date, result: PutResult) -> None:
    lake_files.record(
        context.warehouse,
        result.key,
        result.sha256,
        result.size,
        dataset.source,
        dataset.name,
        day,
        utc_now(),
        result.previous_version,
    )


def ingest(
    context: Context,
    dataset: Dataset,
    day: dt.date,
    paths: list[Path] | None = None,
    force: bool = False,
    run_id: str | None = None,
) -> list[PutResult]:
    """Fetch one day from the origin (or take local files) and land it, with a ledger row."""
    ledger = Ledger(context.warehouse)
    with (
        context.warehouse.session(),
        ledger.step(run_id or new_run_id(), "ingest", dataset.source, dataset.name, day) as step,
    ):
        if paths:
            files = {_landed_name(dataset, day, context, path): path.read_bytes() for path in paths}
        else:
            files = dataset.fetch(day, context.settings)
        results = land(context, dataset, day, files, force=force)
        step.bytes = sum(r.size for r in results)
        step.rows_out = len(results)
    return results


def _landed_name(dataset: Dataset, day: dt.date, context: Context, path: Path) -> str:
    """A local file lands under the dataset's own file name when it has exactly one."""
    names = dataset.file_names(day, context.settings)
    return names[0] if len(names) == 1 else path.name
