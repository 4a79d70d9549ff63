"""``tally_meta.lake_files``: the manifest of raw files landed in the lake (current rows
have no ``superseded_by``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tally.warehouse.base import Warehouse
from tally.warehouse.meta import meta_sql

TABLE = "tally_meta.lake_files"


def is_recorded(warehouse: Warehouse, key: str, source: str, dataset: str) -> bool:
    """Whether this dataset has a current manifest row for the key."""
    found = warehouse.rows(
        f"SELECT count(*) FROM {TABLE} "
        "WHERE key = ? AND source = ? AND dataset = ? AND superseded_by IS NULL",
        [key, source, dataset],
    )
    return int(found[0][0]) > 0


def record(
    warehouse: Warehouse,
    key: str,
    sha256: str,
    size: int,
    source: str,
    dataset: str,
    day: dt.date,
    landed_at: dt.datetime,
    previous_version: str | None,
) -> None:
    """A newly landed file: its current row, the one it replaces marked superseded."""
    with warehouse.transaction():
        warehouse.execute(
            f"UPDATE {TABLE} SET superseded_by = ? WHERE key = ? AND superseded_by IS NULL",
            [previous_version, key],
        )
        warehouse.execute(
            f"INSERT INTO {TABLE} (key, sha256, size, source, dataset, partition_date, "
            "landed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [key, sha256, size, source, dataset, day, landed_at],
        )


def has_partition(warehouse: Warehouse, source: str, dataset: str, day: dt.date) -> bool:
    """Whether a current file of this partition is in the manifest."""
    found = warehouse.rows(
        f"SELECT count(*) FROM {TABLE} WHERE source = ? AND dataset = ? "
        "AND partition_date = ? AND superseded_by IS NULL",
        [source, dataset, day],
    )
    return int(found[0][0]) > 0


def latest_per_dataset(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """(source, dataset or '', newest partition, newest landing) of current files."""
    return warehouse.rows(meta_sql("landed_per_dataset"))


def partitions_per_dataset(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """(source, dataset, newest partition, current files) per dataset."""
    return warehouse.rows(meta_sql("partitions_per_dataset"))


def current_files(
    warehouse: Warehouse, datasets: list[str] | None = None, day: dt.date | None = None
) -> list[tuple[Any, ...]]:
    """(key, size, sha256, source, dataset, partition_date, landed_at) of current files,
    by key; only these ``source/dataset`` keys and this day when given."""
    sql = (
        "SELECT key, size, sha256, source, dataset, partition_date, landed_at "
        f"FROM {TABLE} WHERE superseded_by IS NULL"
    )
    params: list[object] = []
    if datasets is not None:
        sql += " AND source || '/' || dataset IN (SELECT unnest(?))"
        params.append(datasets)
    if day is not None:
        sql += " AND partition_date = ?"
        params.append(day)
    return warehouse.rows(sql + " ORDER BY key", params)
