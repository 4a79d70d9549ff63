"""Matomo's generic filters on a table report, applied in Matomo's order.

``filter_pattern`` (a case-insensitive regular expression searched in ``filter_column``,
``label`` by default), then ``filter_sort_column``/``filter_sort_order`` (``desc`` by
default), then ``filter_offset`` and ``filter_limit``. Unlike Matomo, whose API returns the
first 100 rows unless told otherwise, tally returns every row unless ``filter_limit`` is
given (``-1`` also means all): nothing is truncated unless asked.

``filter_pattern`` is matched with the ``regex`` package (Matomo's PCRE syntax is closer to
it than to ``re``), bounded three ways before it can cost much: at most
``MOST_PATTERN_CHARACTERS`` characters, groups nested at most ``MOST_PATTERN_DEPTH`` deep
(500 nested ``(`` made ``re`` raise RecursionError), and at most ``PATTERN_SECONDS`` of
matching over all rows (catastrophic backtracking stops there with a 400).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import regex

from tally.errors import BadInputError

Row = dict[str, object]
MOST_PATTERN_CHARACTERS = 512
MOST_PATTERN_DEPTH = 16
PATTERN_SECONDS = 1.0


def apply_filters(rows: list[Row], params: Mapping[str, str]) -> list[Row]:
    """``rows`` filtered, sorted and sliced as the request's filter_* parameters say."""
    pattern = params.get("filter_pattern", "")
    if pattern:
        rows = _matching(rows, pattern, params.get("filter_column", "label"))
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


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """``filter_pattern`` compiled, or a BadInputError naming the limit it passes."""
    if len(pattern) > MOST_PATTERN_CHARACTERS:
        raise BadInputError(
            f"filter_pattern is {len(pattern)} characters long; the limit is "
            f"{MOST_PATTERN_CHARACTERS}",
            field="filter_pattern",
        )
    depth = _group_depth(pattern)
    if depth > MOST_PATTERN_DEPTH:
        raise BadInputError(
            f"filter_pattern nests groups {depth} deep; the limit is {MOST_PATTERN_DEPTH}",
            field="filter_pattern",
        )
    try:
        return regex.compile(pattern, regex.IGNORECASE | regex.VERSION0)
    except (regex.error, RecursionError, OverflowError) as error:
        raise BadInputError(f"not a regular expression: {error}", field="filter_pattern") from None


def _group_depth(pattern: str) -> int:
    """How deep ``(`` nest, not counting escaped ones or those inside ``[...]``."""
    depth = deepest = 0
    escaped = in_class = False
    for character in pattern:
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif in_class:
            in_class = character != "]"
        elif character == "[":
            in_class = True
        elif character == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif character == ")":
            depth = max(depth - 1, 0)
    return deepest


def _matching(rows: list[Row], pattern: str, column: str) -> list[Row]:
    compiled = compile_pattern(pattern)
    deadline = time.monotonic() + PATTERN_SECONDS
    kept = []
    for row in rows:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            found = compiled.search(str(row.get(column, "")), timeout=left)
        except TimeoutError:
            raise BadInputError(
                f"filter_pattern took over {PATTERN_SECONDS:g} s to match; simplify it "
                "(pattern time limit)",
                field="filter_pattern",
            ) from None
        if found:
            kept.append(row)
    return kept


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
