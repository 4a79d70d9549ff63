"""``UsersFlow.getUsersFlow``: the pages visits went through, interaction by interaction.

Interaction N of a visit is its N-th page view. Each step lists its pages with the visits
that were there (``nb_visits``), went on to another interaction (``nb_proceeded``) or left
(``nb_exits``), and, per page, where they went next. Matomo's parameters (the UsersFlow
plugin's ``API::getUsersFlow``): ``limitActionsPerStep`` (default 5) keeps each step's
busiest pages and sums the rest into one "Others" row (with ``nb_pages_in_group``, the
pages it holds), and next pages outside the following step's kept pages into an "Others"
next page; ``-1`` lists every page (tally's; Matomo lists all for any limit past the
pages). ``exploreStep`` with ``exploreUrl`` keeps the visits whose page view number
``exploreStep`` was that page, up to 3 steps after it; ``dataSource`` is ``page_url``
(default) or ``page_title``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tally.errors import BadInputError
from tally.web.reporting.methods import Query, Report, Row, actions_in_scope, method, page_title
from tally.web.reporting.queries import report_expression, report_sql
from tally.web.reporting.transitions import label_of
from tally.web.sites import get_site

OTHERS = "Others"
# Matomo's default of limitActionsPerStep (plugins/UsersFlow/API.php getUsersFlow)
DEFAULT_LIMIT = 5
# steps shown after an explored one (Matomo: exploreStep + 3, at most its num_max_steps)
EXPLORED_AFTER = 3
# next-page places besides pages: the visit left; or (the last step an explore shows) it
# went on to a step not shown, so the visit proceeded but no next page is listed
LEFT, UNSHOWN = -1, -2
# step -> page -> (visits, visits that left there, [{"label": next page, "nb_visits": n}]
# busiest first, ties by label)
Flows = dict[int, dict[str, tuple[int, int, list[Row]]]]
# (step, page id, next page id, visits) column by column
Counted = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
# page ids up to this are packed with their step and next page into one 64-bit number
MOST_PACKED_PAGES = 1 << 20


@dataclass(frozen=True)
class Options:
    """What a call asks for: pages kept per step (``None``: all), the explored (step,
    page label) if any, and whether pages are told apart by title instead of URL."""

    limit: int | None
    explore: tuple[int, str] | None
    titles: bool

    @property
    def last_step(self) -> int | None:
        return None if self.explore is None else self.explore[0] + EXPLORED_AFTER


# (step, page, next page, visits) with pages and next pages as places in the names (next
# page LEFT or UNSHOWN otherwise), and the names in byte order
Placed = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]


def _flows(query: Query, options: Options) -> tuple[Flows, dict[int, int]]:
    """Each step's pages with their visits, exits and next pages; with a limit, pages (and
    next pages) outside each step's ``limit`` busiest are one "Others" page, and the second
    part tells how many pages each step's "Others" holds.

    Pages become their labels' places in byte order (the same order on every backend); the
    rest is column-wise in numpy: a year is over a million (step, page, next page) rows
    before any limit, each a dict in an answer that lists them all.
    """
    found = _titled(query, options) if options.titles else _identified(query, options)
    if found is None:
        return {}, {}
    step, page, following, visits, names = found
    grouped: dict[int, int] = {}
    if options.limit is not None:
        step, page, following, visits, grouped = _folded(
            step, page, following, visits, options.limit, names
        )
    return _built(step, page, following, visits, [*names, OTHERS]), grouped


def _identified(query: Query, options: Options) -> Placed | None:
    """The rows by page URL label. Sessionize stored each page view's number in its visit
    and its page's and next page's ids (``web.pages``), so this is one aggregate of (step,
    page, next page) on integers; ``None`` when there is none."""
    explored = _explored(query, options)
    if explored is None:
        return None
    step, page, following, visits = _counted(query, *explored)
    if len(step) == 0:
        return None
    names, place = _labels(query, page)
    unshown = _unshown(step, following != 0, options)
    # id 0 is no page's: its place is LEFT
    page, following = place[page], place[np.where(unshown, 0, following)]
    following[unshown] = UNSHOWN
    return step, page, following, visits, names


def _unshown(step: np.ndarray, going: np.ndarray, options: Options) -> np.ndarray:
    """Which rows went on past the last step an explore shows (Matomo drops those links:
    the visits proceeded, to no listed page)."""
    if options.last_step is None:
        return np.zeros(len(step), dtype=bool)
    unshown: np.ndarray = going & (step == options.last_step)
    return unshown


def _explored(query: Query, options: Options) -> tuple[str, list[object]] | None:
    """The condition (``" AND …"``, or nothing) and parameters keeping the explored visits'
    page views up to the last step shown; ``None`` when no page has the explored URL."""
    if options.explore is None:
        return "", []
    number, label = options.explore
    value: object = label
    if options.titles:
        matched = f"{page_title('e.action_name')} = ?"
    else:
        found = query.warehouse.rows(
            "SELECT page_id FROM web.pages WHERE idsite = ? AND label = ?", [query.idsite, label]
        )
        if not found:
            return None
        matched, value = "e.page_id = ?", found[0][0]
    condition = report_expression("users_flow_explore", matched=matched)
    span = [query.idsite, query.span.start, query.span.end]
    return f" AND {condition}", [options.last_step, *span, number, value]


def _counted(query: Query, condition: str, extra: list[object]) -> Counted:
    """Each distinct (step, page id, next page id) of the query's page views (and the
    ``condition``'s), with how many visits made it (next page 0: the visit left)."""
    join, where, params = actions_in_scope(query)
    where, params = where + condition, [*params, *extra]
    if query.warehouse.capabilities.columnar_results:
        found = _counted_here(query, join, where, params)
        if found is not None:
            return found
    table = query.warehouse.query(report_sql("users_flow_steps", join=join, where=where), params)
    if table.num_rows == 0:  # PostgreSQL types an empty answer's columns as null
        return _nothing()
    step, page, following, visits = (
        table[c].to_numpy().astype(np.int64) for c in table.column_names
    )
    return step, page, following, visits


def _counted_here(query: Query, join: str, where: str, params: list[object]) -> Counted | None:
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
    narrow = f"TRY_CAST({packed} AS INTEGER)"
    table = query.warehouse.query(
        report_sql("users_flow_packed", packed=narrow, join=join, where=where), params
    )
    if table["packed"].null_count:
        table = query.warehouse.query(
            report_sql("users_flow_packed", packed=packed, join=join, where=where), params
        )
    if table.num_rows == 0:
        return _nothing()
    keys, visits = _tallied(table["packed"].to_numpy())
    return keys // (width * width), (keys // width) % width, keys % width, visits


def _titled(query: Query, options: Options) -> Placed | None:
    """The rows by page title (``dataSource=page_title``): grouped by DuckDB or PostgreSQL
    on the titles themselves (there are no title ids), one Python step per distinct row."""
    condition, extra = _explored(query, options) or ("", [])
    join, where, params = actions_in_scope(query)
    sql = report_sql(
        "users_flow_titles",
        title=page_title("a.action_name"),
        next_title=page_title("n.action_name"),
        join=join,
        where=where + condition,
    )
    rows = query.warehouse.rows(sql, [*params, *extra])
    if not rows:
        return None
    names = sorted({str(row[1]) for row in rows})  # code point order: UTF-8's byte order
    place = {name: number for number, name in enumerate(names)}
    last = options.last_step
    following = [
        LEFT if row[2] is None else UNSHOWN if row[0] == last else place[str(row[2])]
        for row in rows
    ]
    return (
        np.array([int(row[0]) for row in rows], dtype=np.int64),
        np.array([place[str(row[1])] for row in rows], dtype=np.int64),
        np.array(following, dtype=np.int64),
        np.array([int(row[3]) for row in rows], dtype=np.int64),
        names,
    )


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
    """The flows of (step, page, next page) rows, pages and next pages as places in
    ``names`` (next page LEFT: the visit left; UNSHOWN: it went on, to no listed page); the
    last name is "Others". Only UNSHOWN rows may repeat a (step, page, next page)."""
    unlisted = following < 0
    others = following == len(names) - 1
    busiest = visits.max()
    # by step and page; in a page, next pages before the exits and "Others", busiest first,
    # ties by label
    step, page, unlisted, _, fewer, following = _sorted(
        [step, page, unlisted.astype(np.int64), others.astype(np.int64), busiest - visits,
         following - UNSHOWN]
    )  # fmt: skip
    visits, following = busiest - fewer, following + UNSHOWN
    starts = np.flatnonzero(
        np.concatenate(([True], (step[1:] != step[:-1]) | (page[1:] != page[:-1])))
    )
    going = following >= 0
    page_visits = np.add.reduceat(visits, starts).tolist()
    exits = np.add.reduceat(np.where(following == LEFT, visits, 0), starts).tolist()
    shown = np.add.reduceat(going.astype(np.int64), starts).tolist()
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, int]]:
    """The rows with every page outside its step's ``limit`` busiest (ties by label), as a
    page and as a next page, made "Others" (place ``len(names)``), rows made alike by that
    summed, and how many pages each step's "Others" holds. A page really labelled "Others"
    joins them, as it would by name.

    Each page gets a slot in its step (0 to ``limit - 1``: the kept pages in order;
    ``limit``: "Others"), so the rows are summed on (step, slot, next slot): a few
    thousand possible keys for a year, counted without a sort, whatever the rows.
    """
    others, slots = len(names), limit + 1
    width = others + 1
    pairs, totals = _summed(step * width + page, visits)
    everyone = pairs // width
    if OTHERS in names:
        real = pairs % width != names.index(OTHERS)
        pairs, totals = pairs[real], totals[real]
    pair_step, pair_page = pairs // width, pairs % width
    order = np.lexsort((pair_page, -totals, pair_step))
    pairs, pair_step, pair_page = pairs[order], pair_step[order], pair_page[order]
    rank = np.arange(len(pairs)) - np.searchsorted(pair_step, pair_step, side="left")
    kept = rank < limit
    steps = int(step.max()) + 2
    slot = np.full(steps * width, limit, dtype=np.int64)  # (step, place) -> slot
    slot[pairs[kept]] = rank[kept]
    place = np.full(steps * slots, others, dtype=np.int64)  # (step, slot) -> place
    place[pair_step[kept] * slots + rank[kept]] = pair_page[kept]
    # next slots shifted past UNSHOWN and LEFT: 0 UNSHOWN, 1 LEFT, 2 + slot a next page
    after = np.where(following >= 0, slot[(step + 1) * width + np.maximum(following, 0)], following)
    span = slots - UNSHOWN
    merged, summed = _summed(
        (step * slots + slot[step * width + page]) * span + after - UNSHOWN, visits
    )
    merged_step, merged_slot = merged // (slots * span), (merged // span) % slots
    merged_after = merged % span + UNSHOWN
    onward = place[(merged_step + 1) * slots + np.maximum(merged_after, 0)]
    grouped = np.bincount(everyone, minlength=steps) - np.bincount(pair_step[kept], minlength=steps)
    return (
        merged_step,
        place[merged_step * slots + merged_slot],
        np.where(merged_after >= 0, onward, merged_after),
        summed,
        {number: count for number, count in enumerate(grouped.tolist()) if count},
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


def _options(query: Query) -> Options:
    """The call's parameters, as Matomo reads them: ``dataSource`` other than page_title
    (any case) is page_url; an explore needs both ``exploreStep`` and ``exploreUrl``
    (Matomo's ``empty()``: "0" is none)."""
    params = query.params
    titles = params.get("dataSource", "").lower() == "page_title"
    number, url = params.get("exploreStep", ""), params.get("exploreUrl", "")
    explore = None
    if number not in ("", "0") and url:
        if not number.isdigit():
            raise BadInputError(
                "exploreStep must be a whole number of 1 or more", field="exploreStep"
            )
        keep = get_site(query.warehouse, query.idsite).keep_url_fragment
        explore = (int(number), url if titles else label_of(url, keep))
    return Options(_limit(query), explore, titles)


def _limit(query: Query) -> int | None:
    raw = query.params.get("limitActionsPerStep", "")
    if raw == "":
        return DEFAULT_LIMIT
    if raw == "-1":
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
    flows, grouped = _flows(query, _options(query))
    steps: list[Row] = []
    for step in sorted(flows):
        rows = [
            _page_row(page, *counted, grouped.get(step) if page == OTHERS else None)
            for page, counted in flows[step].items()
        ]
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


def _page_row(
    page: str, visits: int, exits: int, targets: list[Row], grouped: int | None = None
) -> Row:
    """A page's row; "Others" also tells how many pages it holds (Matomo's
    ``nb_pages_in_group``)."""
    row: Row = {"label": page, "nb_visits": visits, "nb_proceeded": visits - exits}
    row["nb_exits"] = exits
    if grouped is not None:
        row["nb_pages_in_group"] = grouped
    row["subtable"] = targets
    return row
