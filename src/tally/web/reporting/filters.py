"""Matomo's generic filters on a table report, applied in Matomo's order.

``filter_pattern`` (a case-insensitive regular expression searched in ``filter_column``,
``label`` by default), then ``filter_sort_column``/``filter_sort_order`` (``desc`` by
default), then ``filter_offset`` and ``filter_limit``. Unlike Matomo, whose API returns the
first 100 rows unless told otherwise, tally returns every row unless ``filter_limit`` is
given (``-1`` also means all): nothing is truncated unless asked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tally.errors import BadInputError

Row = dict[str, object]


def apply_filters(rows: list[Row], params: Mapping[str, str]) -> list[Row]:
    """``rows`` filtered, sorted and sliced as the request's filter_* parameters say."""
    pattern = params.get("filter_pattern", "")
    if pattern:
        column = params.get("filter_column", "label")
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as error:
            raise BadInputError(
                f"not a regular expression: {error}", field="filter_pattern"
            ) from None
        rows = [row for row in rows if compiled.search(str(row.get(column, "")))]
    column = params.get("filter_sort_column", "")
    if column:
        order = params.get("filter_sort_order", "desc").lower()
        if order not in ("asc", "desc"):
            raise BadInputError("filter_sort_order must be asc or desc", field="filter_sort_order")
        rows = sorted(rows, key=lambda row: _sort_key(row.get(column)), reverse=order == "desc")
    offset = _whole(params, "filter_offset", 0)
    limit = _whole(params, "filter_limit", -1)
    if offset < 0:
        raise BadInputError("filter_offset must be 0 or more", field="filter_offset")
    if limit < -1:
        raise BadInputError("filter_limit must be -1 (all) or 0 or more", field="filter_limit")
    return rows[offset:] if limit == -1 else rows[offset : offset + limit]


def _sort_key(value: object) -> tuple[int, float, str]:
    """Numbers (and "50%" rates) by value, before text; missing values last when desc."""
    if isinstance(value, bool) or value is None:
        return (0, 0.0, "")
    if isinstance(value, int | float):
        return (1, float(value), "")
    text = str(value)
    try:
        return (1, float(text.removesuffix("%")), "")
    except ValueError:
        return (1, 0.0, text.lower())


def _whole(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadInputError(f"{name} must be a whole number, not {raw!r}", field=name) from None
