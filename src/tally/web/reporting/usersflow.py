"""``UsersFlow.getUsersFlow``: the pages visits went through, interaction by interaction.

Interaction N of a visit is its N-th page view. Each step lists its pages with the visits
that were there (``nb_visits``), went on to another interaction (``nb_proceeded``) or left
(``nb_exits``), and, per page, where they went next. Matomo keeps the top 5 pages of a step
and folds the rest into "Others"; tally lists every page unless ``limitActionsPerStep=N``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from tally.errors import BadInputError
from tally.web.reporting.methods import Query, Report, Row, actions_in_scope, method

OTHERS = "Others"
# step -> page -> (visits, visits that left there, [{"label": next page, "nb_visits": n}]
# busiest first, ties by label)
Flows = dict[int, dict[str, tuple[int, int, list[Row]]]]


def _flows(query: Query) -> Flows:
    """Each step's pages with their visits, exits and next pages.

    Sessionize stored each page view's number in its visit and the next view's label, so
    this is one aggregate, with each page's visits, exits and count of next pages added by
    windows over it. A year without a limit is about a million (step, page, next page)
    rows, so the answer is built column-wise from Arrow: the rows are sorted there (the
    same byte order on every backend), each next-page dict is made once in one
    comprehension, and each page's list is a slice of those at offsets summed from the
    counts; nothing is looked up or summed per row in Python.
    """
    join, where, params = actions_in_scope(query)
    sql = f"""
        WITH flows AS (
            SELECT a.pageview_number AS step, a.page_label AS page,
                a.next_page_label AS following, count(*) AS visits
            FROM web.actions AS a {join}
            WHERE {where} AND a.kind = 'pageview'
            GROUP BY 1, 2, 3
        )
        SELECT step, page, following, visits,
            CAST(sum(visits) OVER pages AS BIGINT) AS page_visits,
            CAST(sum(CASE WHEN following IS NULL THEN visits ELSE 0 END) OVER pages AS BIGINT)
                AS exits,
            count(following) OVER pages AS targets,
            count(*) OVER pages AS width,
            row_number() OVER pages AS place
        FROM flows
        WINDOW pages AS (PARTITION BY step, page)
    """
    table = query.warehouse.query(sql, params)
    if table.num_rows == 0:  # PostgreSQL types an empty answer's columns as null
        return {}
    page_order = [("step", "ascending"), ("page_visits", "descending"), ("page", "ascending")]
    columns = ["step", "page", "page_visits", "exits", "targets", "width", "place"]
    heads = _sorted(table.select(columns).filter(pc.equal(table["place"], 1)), page_order)
    targets = _next_pages(table, page_order)
    flows: Flows = {}
    offset = 0
    for step, page, visits, exits, shown, width in zip(
        heads["step"].to_pylist(),
        _strings(heads["page"]),
        heads["page_visits"].to_pylist(),
        heads["exits"].to_pylist(),
        heads["targets"].to_pylist(),
        heads["width"].to_pylist(),
        strict=True,
    ):
        found = flows.get(step)
        if found is None:
            found = flows[step] = {}
        found[page] = (int(visits), int(exits), targets[offset : offset + shown])
        offset += width  # past the page's exit row too
    return flows


def _next_pages(table: pa.Table, page_order: list[tuple[str, str]]) -> list[Row]:
    """One ``{"label", "nb_visits"}`` row per result row, in the pages' order, each page's
    next pages busiest first (ties by label) and its exits (no next page) last; the text is
    never copied, only dictionary indices are."""
    following = pc.dictionary_encode(table["following"].combine_chunks())
    keys = table.select(["step", "page_visits", "page", "visits"]).append_column(
        "left", pc.is_null(following)
    )
    order = pc.sort_indices(
        keys.append_column("following", _ranks(following)),
        sort_keys=[
            *page_order,
            ("left", "ascending"),
            ("visits", "descending"),
            ("following", "ascending"),
        ],
    )
    names = [*following.dictionary.to_pylist(), None]  # a missing index (-1) is the exit
    labels = pc.fill_null(pc.take(following.indices, order), -1).to_numpy().tolist()
    counts = pc.take(table["visits"], order).to_pylist()
    return [
        {"label": names[label], "nb_visits": count}
        for label, count in zip(labels, counts, strict=True)
    ]


def _sorted(table: pa.Table, keys: list[tuple[str, str]]) -> pa.Table:
    return table.take(pc.sort_indices(table, sort_keys=keys))


def _ranks(encoded: pa.DictionaryArray) -> pa.Array:
    """Each entry's place in the byte order of the distinct labels (Arrow sorts numbers,
    not dictionaries)."""
    return pc.take(pc.rank(encoded.dictionary, sort_keys="ascending"), encoded.indices)


def _strings(column: pa.ChunkedArray) -> list[str]:
    """A text column as Python strings, each distinct label made once (there are few pages
    and many rows)."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    names = [str(name) for name in encoded.dictionary.to_pylist()]
    return [names[index] for index in encoded.indices.to_numpy(zero_copy_only=False).tolist()]


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
