"""``UsersFlow.getUsersFlow``: the pages visits went through, interaction by interaction.

Interaction N of a visit is its N-th page view. Each step lists its pages with the visits
that were there (``nb_visits``), went on to another interaction (``nb_proceeded``) or left
(``nb_exits``), and, per page, where they went next. Matomo keeps the top 5 pages of a step
and folds the rest into "Others"; tally lists every page unless ``limitActionsPerStep=N``.
"""

from __future__ import annotations

import numpy as np

from tally.errors import BadInputError
from tally.web.reporting.methods import Query, Report, Row, actions_in_scope, method
from tally.web.reporting.queries import report_sql

OTHERS = "Others"
# step -> page -> (visits, visits that left there, [{"label": next page, "nb_visits": n}]
# busiest first, ties by label)
Flows = dict[int, dict[str, tuple[int, int, list[Row]]]]
# (step, page id, next page id, visits) column by column
Counted = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
# page ids up to this are packed with their step and next page into one 64-bit number
MOST_PACKED_PAGES = 1 << 20


def _flows(query: Query, limit: int | None) -> Flows:
    """Each step's pages with their visits, exits and next pages; with a ``limit``, pages
    (and next pages) outside each step's ``limit`` busiest are one "Others" page.

    Sessionize stored each page view's number in its visit and its page's and next page's
    ids (``web.pages``), so this is one aggregate of (step, page, next page) on integers. A
    year without a limit is over a million such rows, so the rest is column-wise: ids
    become their labels' places in byte order (the same order on every backend), one numpy
    sort puts each page's rows together with its next pages busiest first ("Others" last)
    and its exits last, page totals are sums over those runs, and each next-page dict is
    made once in one comprehension.
    """
    step, page, following, visits = _counted(query)
    if len(step) == 0:
        return {}
    names, place = _labels(query, page)
    page, following = place[page], place[following]  # -1: no next page (id 0 is no page's)
    if limit is not None:
        step, page, following, visits = _folded(step, page, following, visits, limit, names)
    return _built(step, page, following, visits, [*names, OTHERS])


def _counted(query: Query) -> Counted:
    """Each distinct (step, page id, next page id) of the query's page views, with how
    many visits made it (next page 0: the visit left)."""
    join, where, params = actions_in_scope(query)
    scope = f"FROM web.actions AS a {join} WHERE {where} AND a.page_id IS NOT NULL"
    if query.warehouse.capabilities.columnar_results:
        found = _counted_here(query, scope, params)
        if found is not None:
            return found
    table = query.warehouse.query(report_sql("users_flow_steps", scope=scope), params)
    if table.num_rows == 0:  # PostgreSQL types an empty answer's columns as null
        return _nothing()
    step, page, following, visits = (
        table[c].to_numpy().astype(np.int64) for c in table.column_names
    )
    return step, page, following, visits


def _counted_here(query: Query, scope: str, params: list[object]) -> Counted | None:
    """``_counted`` by tallying each page view's (step, page, next page) packed into one
    number in numpy; ``None`` when a site has too many pages for the packing.

    DuckDB hands over a year's 9M packed numbers in about 0.1 s and numpy counts them in
    less; DuckDB's own GROUP BY of the 1.6M distinct triples takes 0.37 s.
    """
    width = query.warehouse.rows(
        "SELECT coalesce(max(page_id), 0) + 1 FROM web.pages WHERE idsite = ?", [query.idsite]
    )[0][0]
    if width > MOST_PACKED_PAGES:
        return None
    packed = (
        f"(a.pageview_number::BIGINT * {width} + a.page_id) * {width} + coalesce(a.next_page_id, 0)"
    )
    # As 32-bit numbers when they fit (nearly always: 500 pages leave room for 8,500
    # steps): half the bytes to hand over, and numpy sorts them about twice as fast. A
    # number that does not fit comes back null, and the query is asked again in 64 bits.
    table = query.warehouse.query(f"SELECT TRY_CAST({packed} AS INTEGER) AS packed {scope}", params)
    if table["packed"].null_count:
        table = query.warehouse.query(f"SELECT {packed} AS packed {scope}", params)
    if table.num_rows == 0:
        return _nothing()
    keys, visits = _tallied(table["packed"].to_numpy())
    return keys // (width * width), (keys // width) % width, keys % width, visits


def _tallied(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``keys`` (none negative) in order and how often each occurs.

    Counted into one slot per possible key when the keys are dense (the largest under
    twice their number, as a year's are: 9M keys below 12M): a year's keys in ~0.08 s CPU
    where sorting them took ~0.35 s on this machine (numpy 2.4; measured side by side,
    2026-12-06). Sparse keys are sorted instead, as 32-bit numbers when they fit, and the
    runs' starts give the counts."""
    largest = int(keys.max())
    if largest < 2 * len(keys):
        slots = np.bincount(keys)
        found = np.flatnonzero(slots)
        return found.astype(np.int64), slots[found].astype(np.int64)
    if keys.dtype != np.int32 and largest < 2**31:
        keys = keys.astype(np.int32)
    ordered = np.sort(keys)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, len(ordered)))
    return ordered[starts].astype(np.int64), counts.astype(np.int64)


def _nothing() -> Counted:
    empty = np.zeros(0, dtype=np.int64)
    return empty, empty, empty, empty


def _built(
    step: np.ndarray, page: np.ndarray, following: np.ndarray, visits: np.ndarray, names: list[str]
) -> Flows:
    """The flows of unique (step, page, next page) rows, pages and next pages as places in
    ``names`` (-1: the visit left); the last name is "Others"."""
    left = following < 0
    others = following == len(names) - 1
    busiest = visits.max()
    # by step and page; in a page, next pages before the exits and "Others", busiest first,
    # ties by label
    step, page, left, _, fewer, following = _sorted(
        [step, page, left.astype(np.int64), others.astype(np.int64), busiest - visits,
         following + 1]
    )  # fmt: skip
    visits, following, left = busiest - fewer, following - 1, left.astype(bool)
    starts = np.flatnonzero(
        np.concatenate(([True], (step[1:] != step[:-1]) | (page[1:] != page[:-1])))
    )
    page_visits = np.add.reduceat(visits, starts).tolist()
    exits = np.add.reduceat(np.where(left, visits, 0), starts).tolist()
    shown = np.add.reduceat((~left).astype(np.int64), starts).tolist()
    going = ~left
    # the labels taken by numpy from an array of the names (no Python lookup per row)
    labels = np.asarray(names, dtype=object)[following[going]].tolist()
    targets = [
        {"label": label, "nb_visits": count}
        for label, count in zip(labels, visits[going].tolist(), strict=True)
    ]
    flows: Flows = {}
    offset = 0
    heads = zip(step[starts].tolist(), page[starts].tolist(), strict=True)
    for (number, label), visited, exited, width in zip(
        heads, page_visits, exits, shown, strict=True
    ):
        found = flows.setdefault(number, {})
        found[names[label]] = (visited, exited, targets[offset : offset + width])
        offset += width
    return flows


def _folded(
    step: np.ndarray,
    page: np.ndarray,
    following: np.ndarray,
    visits: np.ndarray,
    limit: int,
    names: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows with every page outside its step's ``limit`` busiest (ties by label), as a
    page and as a next page, made "Others" (place ``len(names)``), and rows made alike by
    that summed. A page really labelled "Others" joins them, as it would by name."""
    others = len(names)
    width = others + 1
    # each (step, page)'s visits, busiest first in its step, ties by label
    pairs, totals = _summed(step * width + page, visits)
    pair_step, pair_page = pairs // width, pairs % width
    order = np.lexsort((pair_page, -totals, pair_step))
    first = np.searchsorted(pair_step[order], pair_step[order], side="left")
    kept = pairs[order][np.arange(len(order)) - first < limit]
    if OTHERS in names:
        kept = kept[kept % width != names.index(OTHERS)]
    page = np.where(np.isin(step * width + page, kept), page, others)
    going = following >= 0
    following = np.where(going & ~np.isin((step + 1) * width + following, kept), others, following)
    key = (step * width + page) * (width + 1) + (following + 1)
    merged, summed = _summed(key, visits)
    return (
        merged // (width * (width + 1)),
        (merged // (width + 1)) % width,
        merged % (width + 1) - 1,
        summed,
    )


def _summed(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``keys`` (none negative) in order and the sum of ``values`` for each:
    counted into one slot per possible key when there are few (no sort), else by sorting."""
    if int(keys.max()) < 4 * len(keys):
        sums = np.bincount(keys, weights=values)
        found = np.flatnonzero(np.bincount(keys))
        return found, sums[found].astype(np.int64)
    distinct, inverse = np.unique(keys, return_inverse=True)
    return distinct, np.bincount(inverse, weights=values).astype(np.int64)


def _labels(query: Query, pages: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The labels of the ``pages`` ids in byte order, and for each id up to the largest its
    label's place in them (-1 for any other id, such as 0, which no page has).

    Only the ids the answer holds are read (a site with many one-off URLs has far more);
    every next page is some visit's page at the following step, so it is among them. Python
    orders text by code point, which is the byte order of its UTF-8."""
    present = np.flatnonzero(np.bincount(pages)).tolist()
    rows = query.warehouse.rows(
        "SELECT page_id, label FROM web.pages WHERE idsite = ? AND page_id IN (SELECT unnest(?))",
        [query.idsite, present],
    )
    rows.sort(key=lambda row: row[1])
    place = np.full(present[-1] + 1, -1, dtype=np.int64)
    place[[int(row[0]) for row in rows]] = np.arange(len(rows), dtype=np.int64)
    return [str(row[1]) for row in rows], place


def _sorted(keys: list[np.ndarray]) -> list[np.ndarray]:
    """The key columns with their rows sorted by them (first key first; none negative, no
    two rows alike).

    Packed into one 64-bit number per row when their widths fit, which numpy sorts several
    times faster than it sorts the keys one after another (``lexsort``), and which gives
    the sorted columns back by shifting, without taking each column in the new order."""
    widths = [max(int(key.max()), 1).bit_length() for key in keys]
    if sum(widths) > 62:
        order = np.lexsort(keys[::-1])
        return [key[order] for key in keys]
    packed = np.zeros(len(keys[0]), dtype=np.int64)
    for key, width in zip(keys, widths, strict=True):
        packed = (packed << width) | key
    packed.sort()
    columns = []
    for width in reversed(widths):
        columns.append(packed & ((1 << width) - 1))
        packed = packed >> width
    return columns[::-1]


def _limit(query: Query) -> int | None:
    raw = query.params.get("limitActionsPerStep", "")
    if raw in ("", "-1"):
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise BadInputError(
            "limitActionsPerStep must be a whole number of 1 or more (-1: all)",
            field="limitActionsPerStep",
        )
    return int(raw)


@method("UsersFlow.getUsersFlow")
def users_flow(query: Query) -> Report:
    """Per interaction step: visits, proceeded and exits, and each page's next pages."""
    flows = _flows(query, _limit(query))
    steps: list[Row] = []
    for step in sorted(flows):
        rows = [_page_row(page, *counted) for page, counted in flows[step].items()]
        # busiest first, "Others" always last (Matomo's order)
        rows.sort(key=lambda r: (r["label"] == OTHERS, -int(r["nb_visits"]), str(r["label"])))  # type: ignore[call-overload]
        steps.append(
            {
                "label": str(step),
                "step": step,
                "nb_visits": sum(int(r["nb_visits"]) for r in rows),  # type: ignore[call-overload]
                "nb_proceeded": sum(int(r["nb_proceeded"]) for r in rows),  # type: ignore[call-overload]
                "nb_exits": sum(int(r["nb_exits"]) for r in rows),  # type: ignore[call-overload]
                "subtable": rows,
            }
        )
    return steps


def _page_row(page: str, visits: int, exits: int, targets: list[Row]) -> Row:
    return {
        "label": page,
        "nb_visits": visits,
        "nb_proceeded": visits - exits,
        "nb_exits": exits,
        "subtable": targets,
    }
