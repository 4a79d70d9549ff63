"""Load: parse one day's landed files into the dataset's staging table.

The partition (``_partition_date``) is replaced in one transaction together with its
quarantine rows, so a rerun is idempotent and a failed load leaves the previous contents.

Three ways to read the files, with the same rows and the same quarantine as the outcome:
the dataset's own ``parse`` (pyarrow, in this process; every backend); where the
warehouse reads local files itself (DuckDB) and the dataset declares a plain delimited
``layout``, ``delimited_sql`` inside the warehouse; where the warehouse's cluster reads the
lake itself (Spark, ``cluster_reads_lake``), ``delimited_spark`` on the cluster. The last two
keep the rows out of Python (only the bad ones come back, to be named). A file the
warehouse cannot read that way is parsed in Python instead. Read in place, each
line is checked and converted as it is inserted; the lines that did not land are looked at
again afterwards, inside the same transaction, which is rolled back when too many are bad.
The day's files are read and inserted side by side, each on one thread of its own (a long
file's lines by row groups), never more threads than inputs (``Warehouse.unordered``).

``load_days`` loads several days of a dataset, side by side where the warehouse lets
threads replace different partitions of one table at once
(``capabilities.parallel_partition_writes``): one day a thread, each day still ``load``
(its own transaction, quarantine, threshold and ledger step). A day that must create or
widen the staging table (``SchemaChangeError``) makes that change alone, with no rows, and
then loads side by side again.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from tally.errors import BadInputError, QuarantineError, TallyError
from tally.pipeline.context import Context
from tally.pipeline.ingest import dataset_key
from tally.pipeline.ledger import Ledger, new_run_id, utc_now
from tally.pipeline.statements import pipeline_sql
from tally.sources import BadRow, Dataset
from tally.sources.delimited_spark import (
    can_read_on_cluster,
    read_head,
    read_on_cluster,
    with_constants,
)
from tally.sources.delimited_sql import (
    Lines,
    NativeReadError,
    can_stage,
    constant_columns,
    read_lines,
)
from tally.warehouse import FileReadError, SchemaChangeError, Warehouse
from tally.warehouse.meta import quarantine


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

    lines: dict[str, Lines] = field(default_factory=dict)  # by key: files read in place
    # by key: the columns a file read in place or on the cluster gets from its name
    named: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: list[pa.Table] = field(default_factory=list)  # rows parsed in Python
    frames: list[Any] = field(default_factory=list)  # files read on the cluster (Spark)
    cluster_rows: int = 0  # the good rows of ``frames``
    bad_rows: list[BadRow] = field(default_factory=list)
    rows_read: int = 0
    size: int = 0
    keys: list[str] = field(default_factory=list)  # the day's files, in order


def landed_keys(context: Context, dataset: Dataset, day: dt.date) -> list[str]:
    """Keys of the dataset's files in the lake for one day."""
    folder = dataset_key(dataset, day, "x").rsplit("/", 1)[0]
    owned = set(dataset.file_names(day, context.settings))
    keys = context.lake.list(folder)
    mine = [key for key in keys if key.rsplit("/", 1)[1] in owned]
    return mine if owned else keys


_ROW_GROUP = 122_880  # rows of a DuckDB row group, the unit its scans share among threads


class _TooManyBad(Exception):
    """Raised inside the partition's transaction to roll it back."""


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
        try:
            loaded = _load_files(context, dataset, day, run_id, keys, step)
        except SchemaChangeError:
            # the table changed again between this day's change and its load (another
            # day widened it): nothing was written; again alone, once the others are done
            with context.warehouse.shared_writes(False):
                loaded = _load_files(context, dataset, day, run_id, keys, step)
    return loaded


def load_days(
    context: Context,
    dataset: Dataset,
    days: Sequence[dt.date],
    run_id: str | None = None,
    workers: int | None = None,
    days_a_thread: int = 4,
) -> Iterator[tuple[dt.date, Loaded | TallyError]]:
    """``load`` each day, yielding (day, what its load did or the error that failed it) in
    the days' order; a failed day never stops the others.

    Where the warehouse allows parallel partition writes, ``workers`` days (default: one
    per core, at most half of ``warehouse.pool_size``: each day holds a connection for its
    whole load, the rest stay for the server's requests) load side by side, each on one
    thread of its own; a thread that is done takes the next day at once, so the days'
    commits (DuckDB writes a day's rows out as it commits, one commit at a time) fall
    while the other threads still read. Where one process holds the whole database (a
    DuckDB file, ``single_writer_process``) the days go in windows of about
    ``days_a_thread`` days a thread, and between two windows every connection is closed:
    another process waiting for the file waits for one window at most, about as long as
    ``days_a_thread`` days loaded one after another (more days a window let the threads'
    commits fall apart more often; 1 gives waves of one day a thread, each wave waiting for
    its slowest day).
    """
    if len(set(days)) != len(days):  # two loads of one partition would delete each other's rows
        raise ValueError("load_days: a day given twice")
    run_id = run_id or new_run_id()
    pool_share = max(1, context.settings.warehouse.pool_size // 2)
    width = min(workers or min(os.cpu_count() or 1, pool_share), len(days))
    if width <= 1 or not context.warehouse.capabilities.parallel_partition_writes:
        for day in days:
            yield day, _load_or_error(context, dataset, day, run_id)
        return

    def side_by_side(day: dt.date) -> Loaded | TallyError:
        # one DuckDB thread a day: each load's statements run on the thread that sends
        # them, the days on as many cores as there are workers
        warehouse = context.warehouse
        with warehouse.shared_writes(), warehouse.unordered(1):
            return _load_or_error(context, dataset, day, run_id)

    size = len(days)
    if context.warehouse.capabilities.single_writer_process:
        windows = -(-len(days) // (width * max(1, days_a_thread)))
        # windows of about equal length, each a whole number of days a thread (no thread
        # idle for a whole day at a window's end while another loads its last one)
        size = width * -(-len(days) // (windows * width))
    with ThreadPoolExecutor(width, thread_name_prefix="tally-load") as pool:
        for start in range(0, len(days), size):
            window = days[start : start + size]
            yield from zip(window, pool.map(side_by_side, window), strict=True)


def _load_or_error(
    context: Context, dataset: Dataset, day: dt.date, run_id: str
) -> Loaded | TallyError:
    try:
        return load(context, dataset, day, run_id)
    except TallyError as error:
        return error


def _load_files(
    context: Context, dataset: Dataset, day: dt.date, run_id: str, keys: list[str], step: Any
) -> Loaded:
    try:
        with _read(context, dataset, keys, keep_lines=False) as batch:
            return _load_sharing(context, dataset, day, run_id, batch, step)
    except FileReadError:
        # DuckDB could not read a file in the one pass (invalid UTF-8, a NUL byte...):
        # rolled back; read each file's lines first, which names the file to parse in
        # Python instead
        with _read(context, dataset, keys, keep_lines=True) as batch:
            return _load_sharing(context, dataset, day, run_id, batch, step)


def _load_sharing(
    context: Context, dataset: Dataset, day: dt.date, run_id: str, batch: _Batch, step: Any
) -> Loaded:
    """``_load_batch``; side by side with other days (``load_days``), a day that must create
    or widen the staging table (``SchemaChangeError``: refused before anything was
    written) makes that change alone, with no rows, then loads side by side again: only
    the brief change waits for the other days, not the whole load."""
    try:
        return _load_batch(context, dataset, day, run_id, batch, step)
    except SchemaChangeError:
        warehouse = context.warehouse
        with warehouse.shared_writes(False), warehouse.transaction():
            _replace(context, dataset, day, run_id, batch, rows=False)
    return _load_batch(context, dataset, day, run_id, batch, step)


def _load_batch(
    context: Context, dataset: Dataset, day: dt.date, run_id: str, batch: _Batch, step: Any
) -> Loaded:
    """Replace the partition with the batch, in one transaction with its quarantine."""
    step.bytes = batch.size
    loaded = Loaded()
    threshold = context.settings.quarantine_threshold
    try:
        with context.warehouse.transaction():
            inserted = _replace(context, dataset, day, run_id, batch)
            loaded.rows = _refused(context, dataset, day, batch, inserted)
            loaded.bad_rows, loaded.rows_read = batch.bad_rows, batch.rows_read
            step.rows_in, step.rows_quarantined = batch.rows_read, len(batch.bad_rows)
            if loaded.bad_share > threshold:
                raise _TooManyBad
            _write_quarantine(context, dataset, day, batch.bad_rows, run_id)
    except _TooManyBad:
        _write_quarantine(context, dataset, day, batch.bad_rows, run_id)
        raise QuarantineError(
            f"{dataset.key} {day}: {len(batch.bad_rows)} of {batch.rows_read} rows are "
            f"bad ({loaded.bad_share:.1%} > threshold {threshold:.0%}); the partition "
            f"keeps its previous contents. First: {_describe(batch.bad_rows[0])}"
        ) from None
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


def reads_on_cluster(context: Context, dataset: Dataset) -> bool:
    """Whether this load lets the warehouse's cluster read the dataset's files."""
    return bool(
        context.warehouse.capabilities.cluster_reads_lake
        and (
            dataset.cluster_reader
            or (dataset.layout is not None and can_read_on_cluster(dataset.layout))
        )
    )


@contextmanager
def _read(
    context: Context, dataset: Dataset, keys: list[str], keep_lines: bool
) -> Iterator[_Batch]:
    """Every file of the day read into one batch (files read in place: their headers, or
    with ``keep_lines`` their lines too); temporary tables dropped afterwards."""
    batch = _Batch(keys=keys)
    in_place = reads_in_place(context, dataset)
    on_cluster = reads_on_cluster(context, dataset)
    try:
        # a gzip stream is read on one thread: no more threads than files
        with context.warehouse.unordered(len(keys)) if keep_lines else nullcontext():
            for key in keys:
                if in_place and _stage(context, dataset, key, batch, keep_lines):
                    continue
                if on_cluster and _read_on_cluster(context, dataset, key, batch):
                    continue
                _parse(context, dataset, key, batch)
        yield batch
    finally:
        for lines in batch.lines.values():
            if lines.temporary:
                context.warehouse.execute(f"DROP TABLE IF EXISTS {lines.table}")


def _stage(context: Context, dataset: Dataset, key: str, batch: _Batch, keep: bool) -> bool:
    """Read one file's header (and with ``keep`` number its lines inside the warehouse);
    False when it must be parsed in Python. Its rows are checked as they are inserted
    (``_replace``)."""
    path = context.lake.local_path(key)
    assert path is not None and dataset.layout is not None
    table = f"_lines_{uuid.uuid4().hex}" if keep else None
    try:
        name = key.rsplit("/", 1)[1]
        batch.named[key] = dataset.file_columns(name)
        batch.lines[key] = read_lines(context.warehouse, path, name, dataset.layout, table)
    except NativeReadError:
        return False
    except BadInputError as error:
        _unreadable(key, error, batch)
    batch.size += context.lake.fs.size(path)
    return True


def _read_on_cluster(context: Context, dataset: Dataset, key: str, batch: _Batch) -> bool:
    """Let the cluster read one file (its good rows stay there until the partition is
    replaced; its bad rows come back now); False when it must be parsed in Python."""
    warehouse: Any = context.warehouse
    path = context.lake.path(key)
    try:
        named = dataset.file_columns(key.rsplit("/", 1)[1])
        with context.lake.fs.open(path, "rb") as opened:
            compressed, head = read_head(opened)
        url = warehouse.cluster_url(context.lake.uri(key))
        if dataset.cluster_reader:  # a source's own reading (viu-premium's checks)
            read = dataset.read_on_cluster(warehouse.spark, url, key, compressed, head)
        else:
            assert dataset.layout is not None
            read = read_on_cluster(warehouse.spark, url, key, dataset.layout, compressed, head)
    except NativeReadError:
        return False
    except BadInputError as error:
        _unreadable(key, error, batch)
    else:
        batch.frames.append(with_constants(read.frame, named))
        batch.cluster_rows += read.rows
        batch.rows_read += read.rows_read
        batch.bad_rows.extend(read.bad_rows)
    batch.size += context.lake.fs.size(path)
    return True


def _refused(context: Context, dataset: Dataset, day: dt.date, batch: _Batch, inserted: int) -> int:
    """Count the lines read in place, name the bad ones among them and take them (and the
    blank ones) out of the partition again; returns the rows that landed (of ``inserted``).
    The batch's bad rows end in file order."""
    if batch.lines:
        table, warehouse = dataset.staging_table, context.warehouse
        counts = {
            key: (int(lines), int(refused))
            for key, lines, refused in warehouse.rows(
                pipeline_sql("lines_per_file", table=table), [day]
            )
        }
        marked = 0
        for key, lines in batch.lines.items():
            read, refused = counts.get(key, (0, 0))
            batch.rows_read += read
            if refused:
                _refused_lines(warehouse, dataset, day, key, lines, batch)
                marked += refused
        if marked:
            warehouse.execute(
                f"DELETE FROM {table} WHERE _partition_date = ? AND _loaded_at IS NULL", [day]
            )
        inserted -= marked
    order = {key: index for index, key in enumerate(batch.keys)}
    batch.bad_rows.sort(key=lambda row: order.get(row.file, len(order)))
    return inserted


def _refused_lines(
    warehouse: Warehouse, dataset: Dataset, day: dt.date, key: str, lines: Lines, batch: _Batch
) -> None:
    """The blank and bad lines of one file: those inserted marked as refused (no
    ``_loaded_at``); the file's lines are read again for their text."""
    lines = batch.lines[key] = lines.keep(warehouse, f"_lines_{uuid.uuid4().hex}")
    missing = pipeline_sql(
        "refused_lines",
        table=dataset.staging_table,
        day=f"DATE '{day.isoformat()}'",
        file=_literal(key),
    )
    bad_rows, blank = lines.refused(warehouse, missing)
    batch.rows_read -= blank
    batch.bad_rows.extend(BadRow(key, b.line, b.field, b.reason, b.raw) for b in bad_rows)


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


def _replace(
    context: Context, dataset: Dataset, day: dt.date, run_id: str, batch: _Batch, rows: bool = True
) -> int:
    """Replace the partition with the batch's good rows; returns how many landed. Without
    ``rows``: only create or widen the staging table for them, the partition untouched."""
    warehouse = context.warehouse
    partition: dict[str, Any] = {"_partition_date": day} if rows else {}
    if batch.frames:
        assert rows, "a cluster's warehouse never writes partitions side by side"
        return _replace_on_cluster(context, dataset, day, run_id, batch)
    if not batch.lines:
        tables = batch.tables or [pa.table({})]
        table = _with_metadata(pa.concat_tables(tables, promote_options="default"), day, run_id)
        table = table if rows else table.slice(0, 0)
        return warehouse.replace_partition(dataset.staging_table, table, partition)
    # Every line read in place is inserted, one pass over its file: a refused or blank
    # one without ``_loaded_at``, which ``_refused`` looks at and deletes again in the same
    # transaction (rare; the file's count of lines comes with the rows). Files DuckDB
    # could not read, parsed in Python, join as Arrow tables.
    metadata = (
        f"DATE '{day.isoformat()}' AS _partition_date, {_literal(run_id)} AS _run_id, "
        f"CASE WHEN _bad IS NULL THEN TIMESTAMP '{utc_now().isoformat(sep=' ')}' END "
        "AS _loaded_at"
    )
    # one thread per input: a file (a gzip stream is read on one thread), or a row group of
    # a long file's lines held in a table; a file's lines are not split among threads (a
    # UNION ALL of line ranges, tried, cost more CPU than it saved time)
    groups = sum(max(1, -(-lines.rows // _ROW_GROUP)) for lines in batch.lines.values())
    streams = len(batch.tables) + groups
    with warehouse.session(), warehouse.unordered(streams), ExitStack() as views:
        python = [
            f"SELECT * FROM {views.enter_context(warehouse.arrow_view(table))}"  # type: ignore[attr-defined]
            for table in batch.tables
        ]
        staged = [
            f"SELECT *, {_literal(key)} AS _file{constant_columns(batch.named.get(key, {}))} "
            f"FROM ({lines.every_line()})"
            for key, lines in batch.lines.items()
        ]
        union = " UNION ALL BY NAME ".join(f"({part})" for part in staged + python)
        names = {"_line", "_file", "_partition_date", "_run_id", "_loaded_at"}
        names.update(column.name for lines in batch.lines.values() for column in lines.columns)
        names.update(name for key in batch.lines for name in batch.named.get(key, {}))
        names.update(name for table in batch.tables for name in table.column_names)
        replaced = warehouse.replace_partition_from(  # type: ignore[attr-defined]
            dataset.staging_table,
            f"SELECT * EXCLUDE (_bad), {metadata} FROM ({union})" + ("" if rows else " LIMIT 0"),
            partition,
            reads_files=not all(lines.temporary for lines in batch.lines.values()),
            columns=sorted(names),
        )
        return int(replaced)


def _replace_on_cluster(
    context: Context, dataset: Dataset, day: dt.date, run_id: str, batch: _Batch
) -> int:
    """Replace the partition with the rows the cluster read (and those parsed in Python,
    handed to it); the cluster writes them when the transaction ends."""
    from pyspark.sql import functions

    warehouse: Any = context.warehouse
    frames = batch.frames + [warehouse.frame_of(table) for table in batch.tables]
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame, allowMissingColumns=True)
    union = union.select(
        "*",
        functions.lit(day).alias("_partition_date"),
        functions.lit(run_id).alias("_run_id"),
        functions.expr(f"TIMESTAMP_NTZ '{utc_now().isoformat(sep=' ')}'").alias("_loaded_at"),
    )
    rows = batch.cluster_rows + sum(int(table.num_rows) for table in batch.tables)
    partition = {"_partition_date": day}
    warehouse.replace_partition_frame(dataset.staging_table, union, partition, empty=not rows)
    return rows


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
    quarantine.replace_partition(
        context.warehouse, dataset.source, dataset.name, day, rows if bad_rows else None
    )


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
    sql = pipeline_sql("duplicates", key=key, order=order, table=table)
    found = warehouse.rows(sql, [day, day, day])
    return int(found[0][0])
