"""Load: parse one day's landed files into the dataset's staging table.

The partition (``_partition_date``) is replaced in one transaction together with its
quarantine rows, so a rerun is idempotent and a failed load leaves the previous contents.

Two ways to read the files, with the same rows and the same quarantine as the outcome:
the dataset's own ``parse`` (pyarrow, in this process; every backend), or, where the
warehouse reads local files itself (DuckDB) and the dataset declares a plain delimited
``layout``, ``delimited_sql`` inside the warehouse, so the rows never pass through Python.
A file the warehouse cannot read that way is parsed in Python instead.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import pyarrow as pa

from tally.errors import BadInputError, QuarantineError
from tally.pipeline.context import Context
from tally.pipeline.ingest import dataset_key
from tally.pipeline.ledger import Ledger, new_run_id, utc_now
from tally.sources import BadRow, Dataset
from tally.sources.delimited_sql import (
    NativeReadError,
    can_stage,
    split_work,
    stage_delimited,
)
from tally.warehouse import Warehouse

QUARANTINE_TABLE = "tally_meta.quarantine"


@dataclass
class Loaded:
    """What one partition's load did."""

    rows: int = 0  # rows now in the partition
    bad_rows: list[BadRow] = field(default_factory=list)
    rows_read: int = 0
    skipped: bool = False  # no landed files for the day

    @property
    def bad_share(self) -> float:
        return len(self.bad_rows) / self.rows_read if self.rows_read else 0.0


@dataclass
class _Batch:
    """One day's files, read: where the good rows are, and the bad ones."""

    selects: list[str] = field(default_factory=list)  # SQL over temporary tables
    tables: list[pa.Table] = field(default_factory=list)  # rows parsed in Python
    bad_rows: list[BadRow] = field(default_factory=list)
    rows_read: int = 0
    size: int = 0


def landed_keys(context: Context, dataset: Dataset, day: dt.date) -> list[str]:
    """Keys of the dataset's files in the lake for one day."""
    folder = dataset_key(dataset, day, "x").rsplit("/", 1)[0]
    owned = set(dataset.file_names(day, context.settings))
    keys = context.lake.list(folder)
    mine = [key for key in keys if key.rsplit("/", 1)[1] in owned]
    return mine if owned else keys


def load(context: Context, dataset: Dataset, day: dt.date, run_id: str | None = None) -> Loaded:
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
            return Loaded(skipped=True)
        with _read(context, dataset, keys) as batch:
            step.bytes, step.rows_in = batch.size, batch.rows_read
            step.rows_quarantined = len(batch.bad_rows)
            loaded = Loaded(0, batch.bad_rows, batch.rows_read)
            threshold = context.settings.quarantine_threshold
            if loaded.bad_share > threshold:
                _write_quarantine(context, dataset, day, batch.bad_rows, run_id)
                raise QuarantineError(
                    f"{dataset.key} {day}: {len(batch.bad_rows)} of {batch.rows_read} rows are "
                    f"bad ({loaded.bad_share:.1%} > threshold {threshold:.0%}); the partition "
                    f"keeps its previous contents. First: {_describe(batch.bad_rows[0])}"
                )
            with context.warehouse.transaction():
                loaded.rows = _replace(context, dataset, day, run_id, batch)
                _write_quarantine(context, dataset, day, batch.bad_rows, run_id)
            step.rows_out = loaded.rows
            if dataset.event_key:
                step.rows_duplicate = duplicates(context.warehouse, dataset, day)
    return loaded


def reads_in_place(context: Context, dataset: Dataset) -> bool:
    """Whether this load lets the warehouse parse the dataset's files itself."""
    return bool(
        context.warehouse.capabilities.reads_local_files
        and dataset.layout is not None
        and can_stage(dataset.layout)
        and context.lake.local_path("x") is not None
    )


@contextmanager
def _read(context: Context, dataset: Dataset, keys: list[str]) -> Iterator[_Batch]:
    """Every file of the day read into one batch; temporary tables dropped afterwards."""
    batch = _Batch()
    staged: list[str] = []
    in_place = reads_in_place(context, dataset)
    try:
        for key in keys:
            if in_place and _stage(context, dataset, key, batch, staged):
                continue
            _parse(context, dataset, key, batch)
        yield batch
    finally:
        if staged:
            for table in staged:
                context.warehouse.execute(f"DROP TABLE IF EXISTS {table}")


def _stage(context: Context, dataset: Dataset, key: str, batch: _Batch, staged: list[str]) -> bool:
    """Read one file inside the warehouse; False when it must be parsed in Python."""
    path = context.lake.local_path(key)
    assert path is not None and dataset.layout is not None
    table = f"_staged_{uuid.uuid4().hex}"
    try:
        name = key.rsplit("/", 1)[1]
        result = stage_delimited(context.warehouse, path, name, dataset.layout, table)
    except NativeReadError:
        return False
    except BadInputError as error:
        _unreadable(key, error, batch)
        batch.size += context.lake.fs.size(path)
        return True
    staged.append(table)
    batch.size += context.lake.fs.size(path)
    select = result.select("{part}")  # split_work fills in the part
    batch.selects.append(f"SELECT *, {_literal(key)} AS _file FROM ({select})")
    batch.bad_rows.extend(BadRow(key, b.line, b.field, b.reason, b.raw) for b in result.bad_rows)
    batch.rows_read += result.rows_read
    return True


def _parse(context: Context, dataset: Dataset, key: str, batch: _Batch) -> None:
    data = context.lake.get(key)
    batch.size += len(data)
    try:
        parsed = dataset.parse(data, key.rsplit("/", 1)[1])
    except BadInputError as error:
        _unreadable(key, error, batch)
        return
    files = pa.array([key] * parsed.table.num_rows, pa.string())
    batch.tables.append(parsed.table.append_column("_file", files))
    batch.bad_rows.extend(BadRow(key, b.line, b.field, b.reason, b.raw) for b in parsed.bad_rows)
    batch.rows_read += parsed.rows_read


def _unreadable(key: str, error: BadInputError, batch: _Batch) -> None:
    # an unreadable file is one bad "row" that stands for the whole file
    batch.bad_rows.append(BadRow(key, error.line or 0, error.field, error.reason))
    batch.rows_read += 1


def _replace(context: Context, dataset: Dataset, day: dt.date, run_id: str, batch: _Batch) -> int:
    """Replace the partition with the batch's good rows; returns how many landed."""
    warehouse, partition = context.warehouse, {"_partition_date": day}
    if not batch.selects:
        tables = batch.tables or [pa.table({})]
        table = _with_metadata(pa.concat_tables(tables, promote_options="default"), day, run_id)
        return warehouse.replace_partition(dataset.staging_table, table, partition)
    # files DuckDB could not read, parsed in Python, join as Arrow tables read in place
    metadata = (
        f"DATE '{day.isoformat()}' AS _partition_date, {_literal(run_id)} AS _run_id, "
        f"TIMESTAMP '{utc_now().isoformat(sep=' ')}' AS _loaded_at"
    )
    with warehouse.session(), warehouse.unordered() as count, ExitStack() as views:
        python = [
            f"SELECT * FROM {views.enter_context(warehouse.arrow_view(table))}"  # type: ignore[attr-defined]
            for table in batch.tables
        ]
        parts = [split_work(select, count) for select in batch.selects] + python
        union = " UNION ALL BY NAME ".join(f"({part})" for part in parts)
        return warehouse.replace_partition_from(  # type: ignore[attr-defined]
            dataset.staging_table, f"SELECT *, {metadata} FROM ({union})", partition
        )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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


def duplicates(warehouse: Warehouse, dataset: Dataset, day: dt.date) -> int:
    """Rows of the day's partition whose event key came before: in an earlier partition,
    or earlier in the day's files (file name, then line). The staging model of the
    dataset keeps one copy of each key; this counts the copies a load brought again."""
    key = ", ".join(dataset.event_key)
    table = dataset.staging_table
    order = "_partition_date, _file" + (", _line" if "_line" in warehouse.columns(table) else "")
    found = warehouse.rows(
        f"SELECT count(*) FROM (SELECT _partition_date, row_number() OVER ("
        f"PARTITION BY {key} ORDER BY {order}) AS copy FROM {table} "
        f"WHERE ({key}) IN (SELECT {key} FROM {table} WHERE _partition_date = ?) "
        f"AND _partition_date <= ?) AS copies WHERE _partition_date = ? AND copy > 1",
        [day, day, day],
    )
    return int(found[0][0])
