"""``tally_meta.hitlog_segments``: how far each hit-log segment has been loaded into
``web.hits`` (byte offset, hits, skipped bytes, whether it was read to its end after it
was sealed)."""

from __future__ import annotations

import datetime as dt

from tally.warehouse.base import Warehouse

TABLE = "tally_meta.hitlog_segments"


def progress(warehouse: Warehouse) -> dict[str, tuple[int, bool]]:
    """Loaded offset and sealed flag of every segment with a row, by segment name."""
    return {
        str(row[0]): (int(row[1]), bool(row[2]))
        for row in warehouse.rows(f"SELECT segment, loaded_offset, sealed FROM {TABLE}")
    }


def sealed_segments(warehouse: Warehouse) -> set[str]:
    """Names of the segments read to their end after they were sealed."""
    return {str(row[0]) for row in warehouse.rows(f"SELECT segment FROM {TABLE} WHERE sealed")}


def advance(
    warehouse: Warehouse,
    segment: str,
    offset: int,
    hits: int,
    skipped: int,
    sealed: bool,
    at: dt.datetime,
    *,
    known: bool,
) -> None:
    """Move a segment's loaded offset to ``offset``, adding ``hits`` and ``skipped`` bytes
    (``known``: the segment has a row already). Runs inside the caller's transaction, so
    the offset commits with the rows it covers."""
    if known:
        warehouse.execute(
            f"UPDATE {TABLE} SET loaded_offset = ?, hits = hits + ?, "
            "skipped_bytes = skipped_bytes + ?, sealed = ?, updated_at = ? WHERE segment = ?",
            [offset, hits, skipped, sealed, at, segment],
        )
    else:
        warehouse.execute(
            f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?)",
            [segment, offset, hits, skipped, sealed, at],
        )
