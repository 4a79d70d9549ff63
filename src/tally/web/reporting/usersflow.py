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

OTHERS = "Others"
# step -> page -> (visits, visits that left there, [{"label": next page, "nb_visits": n}]
# busiest first, ties by label)
Flows = dict[int, dict[str, tuple[int, int, list[Row]]]]


def _flows(query: Query) -> Flows:
    """Each step's pages with their visits, exits and next pages.

    Sessionize stored each page view's number in its visit and its page's and next page's
    ids (``web.pages``), so this is one aggregate of (step, page, next page) on integers. A
    year without a limit is over a million such rows, so the rest is column-wise: ids
    become their labels' places in byte order (the same order on every backend), one numpy
    sort puts each page's rows together with its next pages busiest first and its exits
    last, page totals are sums over those runs, and each next-page dict is made once in one
    comprehension.
    """
    join, where, params = actions_in_scope(query)
    sql = f"""
        SELECT a.pageview_number AS step, a.page_id AS page, a.next_page_id AS following,
            count(*) AS visits
        FROM web.actions AS a {join}
        WHERE {where} AND a.page_id IS NOT NULL -- a page view (cheaper than testing kind)
        GROUP BY 1, 2, 3
    """
    table = query.warehouse.query(sql, params)
    if table.num_rows == 0:  # PostgreSQL types an empty answer's columns as null
        return {}
    page = table["page"].to_numpy().astype(np.int64)
    following = table["following"].fill_null(0).to_numpy().astype(np.int64)
    names, place = _labels(query, page)
    step = table["step"].to_numpy().astype(np.int64)
    page, following = place[page], place[following]
    visits = table["visits"].to_numpy().astype(np.int64)
    left = following < 0  # no next page (id 0 is no page's): the visit ended there
    busiest = visits.max()
    # by step and page; in a page, next pages before the exits, busiest first, ties by label
    step, page, left, fewer, following = _sorted(
        [step, page, left.astype(np.int64), busiest - visits, following + 1]
    )
    visits, following, left = busiest - fewer, following - 1, left.astype(bool)
    starts = np.flatnonzero(
        np.concatenate(([True], (step[1:] != step[:-1]) | (page[1:] != page[:-1])))
    )
    page_visits = np.add.reduceat(visits, starts).tolist()
    exits = np.add.reduceat(np.where(left, visits, 0), starts).tolist()
    shown = np.add.reduceat((~left).astype(np.int64), starts).tolist()
    targets = [
        {"label": names[label], "nb_visits": count}
        for label, count in zip(following[~left].tolist(), visits[~left].tolist(), strict=True)
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


def _kept(pages: dict[str, tuple[int, int, list[Row]]], limit: int | None) -> set[str]:
    """The pages of a step shown by name: the ``limit`` busiest (ties by name), or all."""
    ranked = sorted(pages, key=lambda page: (-pages[page][0], page))
    return set(ranked if limit is None else ranked[:limit])


@method("UsersFlow.getUsersFlow")
def users_flow(query: Query) -> Report:
    """Per interaction step: visits, proceeded and exits, and each page's next pages."""
    limit = _limit(query)
    flows = _flows(query)
    steps: list[Row] = []
    for step in sorted(flows):
        pages = flows[step]
        if limit is None:  # every page by name: nothing to fold into "Others"
            rows = [_page_row(page, *counted) for page, counted in pages.items()]
        else:
            rows = _folded(pages, _kept(pages, limit), _kept(flows.get(step + 1, {}), limit))
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


def _folded(
    pages: dict[str, tuple[int, int, list[Row]]], kept: set[str], kept_next: set[str]
) -> list[Row]:
    """The step's rows with pages (and next pages) outside the kept ones as "Others"."""
    grouped: dict[str, tuple[int, int, dict[str, int]]] = {}
    for page, (visits, exits, targets) in pages.items():
        name = page if page in kept else OTHERS
        seen, left, merged = grouped.get(name, (0, 0, {}))
        for row in targets:
            target = str(row["label"])
            target = target if target in kept_next else OTHERS
            merged[target] = merged.get(target, 0) + int(row["nb_visits"])  # type: ignore[call-overload]
        grouped[name] = (seen + visits, left + exits, merged)
    rows = []
    for name, (visits, exits, merged) in grouped.items():
        following = sorted(merged.items(), key=lambda item: (item[0] == OTHERS, -item[1], item[0]))
        targets = [{"label": target, "nb_visits": count} for target, count in following]
        rows.append(_page_row(name, visits, exits, targets))
    return rows


def _page_row(page: str, visits: int, exits: int, targets: list[Row]) -> Row:
    return {
        "label": page,
        "nb_visits": visits,
        "nb_proceeded": visits - exits,
        "nb_exits": exits,
        "subtable": targets,
    }
