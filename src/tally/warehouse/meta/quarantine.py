"""``tally_meta.quarantine``: rows a load set aside, each with its file, line and reason."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from tally.warehouse.base import Warehouse
from tally.warehouse.meta import meta_sql

if TYPE_CHECKING:
    import pyarrow as pa

TABLE = "tally_meta.quarantine"


def rows_per_dataset(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """(source, dataset or '', quarantined rows) over the whole table."""
    return warehouse.rows(meta_sql("quarantined_per_dataset"))


def replace_partition(
    warehouse: Warehouse, source: str, dataset: str, day: dt.date, rows: pa.Table | None
) -> None:
    """One load's bad rows of a partition, in place of the ones an earlier load set aside."""
    with warehouse.transaction():
        warehouse.execute(
            f"DELETE FROM {TABLE} WHERE source = ? AND dataset = ? AND partition_date = ?",
            [source, dataset, day],
        )
        if rows is not None and rows.num_rows:
            warehouse.append(TABLE, rows)


def reasons_since(warehouse: Warehouse, since: dt.datetime, source: str) -> list[tuple[Any, ...]]:
    """The 50 commonest (source, dataset, reason, rows, first file, first line) since a
    time, of one source or all."""
    where = "quarantined_at >= ?" + (" AND source = ?" if source else "")
    params: list[object] = [since, source] if source else [since]
    return warehouse.rows(meta_sql("quarantine_reasons", where=where), params)


def rows_of_run(warehouse: Warehouse, run_id: str) -> list[tuple[Any, ...]]:
    """The first 500 rows one run set aside: (source, dataset, file, line, field, reason,
    raw)."""
    return warehouse.rows(
        f"SELECT source, dataset, file, line, field, reason, raw FROM {TABLE} "
        "WHERE run_id = ? ORDER BY file, line LIMIT 500",
        [run_id],
    )


def add_hits(
    warehouse: Warehouse,
    file: str,
    rows: list[tuple[int, str | None, str, str]],
    at: dt.datetime,
) -> None:
    """Hit records set aside (source 'web', dataset 'hits'): (line or offset, field,
    reason, raw) of one file (a hit-log segment or a stream). Runs inside the caller's
    transaction."""
    for line, field, reason, raw in rows:
        warehouse.execute(
            f"INSERT INTO {TABLE} (source, dataset, file, line, field, reason, raw, "
            "quarantined_at) VALUES ('web', 'hits', ?, ?, ?, ?, ?, ?)",
            [file, line, field, reason, raw, at],
        )


def hit_lines(warehouse: Warehouse, file: str, low: int, high: int) -> set[int]:
    """Lines (stream sequences) of one file's hit records already set aside, in
    ``low..high``."""
    return {
        int(row[0])
        for row in warehouse.rows(
            f"SELECT line FROM {TABLE} WHERE source = 'web' AND dataset = 'hits' AND file = ? "
            "AND line BETWEEN ? AND ?",
            [file, low, high],
        )
    }
