"""Load: parse one day's landed files into the dataset's staging table.

The partition (``_partition_date``) is replaced in one transaction together with its
quarantine rows, so a rerun is idempotent and a failed load leaves the previous contents.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from tally.errors import BadInputError, QuarantineError
from tally.pipeline.context import Context
from tally.pipeline.ingest import dataset_key
from tally.pipeline.ledger import Ledger, new_run_id, utc_now
from tally.sources import BadRow, Dataset, Parsed

QUARANTINE_TABLE = "tally_meta.quarantine"


def landed_keys(context: Context, dataset: Dataset, day: dt.date) -> list[str]:
    """Keys of the dataset's files in the lake for one day."""
    folder = dataset_key(dataset, day, "x").rsplit("/", 1)[0]
    owned = set(dataset.file_names(day, context.settings))
    keys = context.lake.list(folder)
    mine = [key for key in keys if key.rsplit("/", 1)[1] in owned]
    return mine if owned else keys


def load(context: Context, dataset: Dataset, day: dt.date, run_id: str | None = None) -> Parsed:
    """Parse and load one partition; raises QuarantineError past the bad-row threshold."""
    run_id = run_id or new_run_id()
    ledger = Ledger(context.warehouse)
    with (
        context.warehouse.session(),
        ledger.step(run_id, "load", dataset.source, dataset.name, day) as step,
    ):
        keys = landed_keys(context, dataset, day)
        if not keys:
            step.status, step.error = "skipped", "no landed files for this day"
            return Parsed(pa.table({}))
        parsed, size = _parse_all(context, dataset, keys)
        step.bytes, step.rows_in = size, parsed.rows_read
        step.rows_quarantined = len(parsed.bad_rows)
        threshold = context.settings.quarantine_threshold
        if parsed.bad_share > threshold:
            _write_quarantine(context, dataset, day, parsed.bad_rows, run_id)
            raise QuarantineError(
                f"{dataset.key} {day}: {len(parsed.bad_rows)} of {parsed.rows_read} rows are bad "
                f"({parsed.bad_share:.1%} > threshold {threshold:.0%}); the partition keeps its "
                f"previous contents. First: {_describe(parsed.bad_rows[0])}"
            )
        table = _with_metadata(parsed.table, day, run_id)
        with context.warehouse.transaction():
            step.rows_out = context.warehouse.replace_partition(
                dataset.staging_table, table, {"_partition_date": day}
            )
            _write_quarantine(context, dataset, day, parsed.bad_rows, run_id)
    return parsed


def _parse_all(context: Context, dataset: Dataset, keys: list[str]) -> tuple[Parsed, int]:
    tables, bad_rows, rows_read, size = [], [], 0, 0
    for key in keys:
        data = context.lake.get(key)
        size += len(data)
        file_name = key.rsplit("/", 1)[1]
        try:
            parsed = dataset.parse(data, file_name)
        except BadInputError as error:
            # an unreadable file is one bad "row" that stands for the whole file
            bad_rows.append(BadRow(key, error.line or 0, error.field, error.reason))
            rows_read += 1
            continue
        tables.append(parsed.table.append_column("_file", pa.array([key] * parsed.table.num_rows)))
        bad_rows.extend(BadRow(key, b.line, b.field, b.reason, b.raw) for b in parsed.bad_rows)
        rows_read += parsed.rows_read
    table = pa.concat_tables(tables, promote_options="default") if tables else pa.table({})
    return Parsed(table, bad_rows, rows_read), size


def _with_metadata(table: pa.Table, day: dt.date, run_id: str) -> pa.Table:
    count = table.num_rows
    table = table.append_column("_partition_date", pa.array([day] * count, pa.date32()))
    table = table.append_column("_run_id", pa.array([run_id] * count, pa.string()))
    return table.append_column("_loaded_at", pa.array([utc_now()] * count, pa.timestamp("us")))


def _write_quarantine(
    context: Context, dataset: Dataset, day: dt.date, bad_rows: list[BadRow], run_id: str
) -> None:
    now = utc_now()
    rows = pa.table(
        {
            "source": pa.array([dataset.source] * len(bad_rows), pa.string()),
            "dataset": pa.array([dataset.name] * len(bad_rows), pa.string()),
            "partition_date": pa.array([day] * len(bad_rows), pa.date32()),
            "file": pa.array([b.file for b in bad_rows], pa.string()),
            "line": pa.array([b.line for b in bad_rows], pa.int64()),
            "field": pa.array([b.field for b in bad_rows], pa.string()),
            "reason": pa.array([b.reason for b in bad_rows], pa.string()),
            "raw": pa.array([b.raw[:2000] for b in bad_rows], pa.string()),
            "run_id": pa.array([run_id] * len(bad_rows), pa.string()),
            "quarantined_at": pa.array([now] * len(bad_rows), pa.timestamp("us")),
        }
    )
    with context.warehouse.transaction():
        context.warehouse.execute(
            f"DELETE FROM {QUARANTINE_TABLE} WHERE source = ? AND dataset = ? "
            "AND partition_date = ?",
            [dataset.source, dataset.name, day],
        )
        if bad_rows:
            context.warehouse.append(QUARANTINE_TABLE, rows)


def _describe(row: BadRow) -> str:
    where = f"{row.file}, line {row.line}"
    if row.field:
        where += f", field {row.field!r}"
    return f"{where}: {row.reason}"
