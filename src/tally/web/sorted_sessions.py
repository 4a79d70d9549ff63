"""The sorted sessionize engine (``web.sessionize_engine = "sorted"``, DuckDB only).

actions.sql places hits with a chain of dependent window passes over every hit. This engine
places them the same way from one sort: DuckDB orders the dirty days' hits by visitor-day
and time (``sessions/sorted_hits.sql``), numpy works out Matomo's visit rules over that
order (each window becomes a running maximum, a cumulative sum or a shift of arrays), and
DuckDB writes web.actions from the result (``sessions/sorted_actions.sql``). The rules and
their reasons are written in actions.sql; the names below follow its steps. pages.sql,
conversions.sql and visits.sql then run as for the SQL engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tally.warehouse import Warehouse
from tally.warehouse.sqlfiles import sql_file

MODELS = "tally.web.models"
IDLE_SECONDS = 1800  # Matomo's visit_standard_length: 30 idle minutes close a visit
INTERACTIONS = ("pageview", "search")
NO_ACTIONS = ("goal", "order", "cart")  # their time is credited to no page


def rebuild(warehouse: Warehouse, between: list[str]) -> None:
    """Rebuild web.actions and web.visits for the dirty site-days (what actions.sql and
    visits.sql do), running the models ``between`` (pages, conversions) after the actions."""
    sort = sql_file(MODELS, "sessions/sorted_hits.sql", **hit_pieces())
    hits = warehouse.query(sort).combine_chunks()
    placed, visits = placed_actions(hits)
    # arrow_view is a DuckDB warehouse's own (sessions.py picks this engine only there)
    with (
        warehouse.arrow_view(placed) as placed_view,  # type: ignore[attr-defined]
        warehouse.arrow_view(visits) as visits_view,  # type: ignore[attr-defined]
    ):
        views = {"placed": placed_view, "visits": visits_view}
        actions = sql_file(MODELS, "sessions/sorted_actions.sql", **views, **action_pieces())
        warehouse.run_model(actions)
        for model in between:
            warehouse.run_model(model)
        visits_sql = sql_file(MODELS, "sessions/sorted_visits.sql", **views, **visit_pieces("f"))
        warehouse.run_model(visits_sql)


def piece(name: str, **fragments: str) -> str:
    """``sessions/<name>.sql`` without its last line break: a piece of SQL that the SQL
    engine's models (actions.sql, visits.sql) and this engine's statements both include, so
    that what they share is written once."""
    return sql_file(MODELS, f"sessions/{name}.sql", **fragments).rstrip("\n")


def hit_pieces() -> dict[str, str]:
    """The pieces actions.sql and sorted_hits.sql share: the dirty days' hits and a hit's
    visitor."""
    return {"scoped_hits": piece("scoped_hits"), "visitor_key": piece("visitor_key")}


def action_pieces() -> dict[str, str]:
    """The pieces actions.sql and sorted_actions.sql share: web.actions' columns and the
    ones taken from the placed hit and the stored one."""
    return {"insert_actions": piece("insert_actions"), "hit_columns": piece("hit_columns")}


def visit_pieces(first_hit: str) -> dict[str, str]:
    """The pieces visits.sql and sorted_visits.sql share, ``first_hit`` being the alias the
    visit's device and country are read from."""
    return {
        "insert_visits": piece("insert_visits"),
        "visit_goals": piece("visit_goals"),
        "referrer_columns": piece("referrer_columns", first_hit=first_hit),
    }


@dataclass(frozen=True)
class Order:
    """The sorted hits' positions: each hit's index, where its visitor-day starts, and
    whether it starts one."""

    index: np.ndarray
    start: np.ndarray
    first: np.ndarray


def placed_actions(hits: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Each sorted hit placed (its visit by the index of the visit's first hit, its place in
    it) and the visits' first hits: the rows sorted_actions.sql writes."""
    count = hits.num_rows
    index = np.arange(count, dtype=np.int64)
    first = _visitor_day_starts(hits)
    order = Order(index, np.maximum.accumulate(np.where(first, index, 0)), first)
    kinds = _kinds(hits["kind"])
    seconds = _seconds_since_previous(hits["hit_time"], first)
    orphan, time_break = _timed(order, kinds["ping"], seconds, _flags(hits["new_visit"]))
    visit_break = _broken(hits, order, time_break)
    visit = np.maximum.accumulate(np.where(visit_break, index, -1))
    visit = np.where(orphan | (visit < order.start), -1, visit)
    run_end = _next_at_or_after(visit_break | first, index + 1, count)
    interaction = kinds["pageview"] | kinds["search"]
    counts = _counted(visit, interaction, kinds["pageview"])
    previous_interaction = _last_before(interaction, index, visit)
    next_interaction = _next_at_or_after(interaction, index + 1, count)
    next_interaction = np.where((visit >= 0) & (next_interaction < run_end), next_interaction, -1)
    next_view = _next_at_or_after(kinds["pageview"], index + 1, count)
    next_view = np.where(kinds["pageview"] & (next_view < run_end), next_view, -1)
    # texts taken at other rows' indices travel as dictionaries: a take moves integers
    page_label = _dictionary(hits["page_label"])
    kind = _dictionary(hits["kind"])
    label = _dictionary(
        pc.if_else(_mask(kinds["pageview"]), hits["page_label"], hits["search_keyword"])
    )
    gap = np.where((visit >= 0) & (visit != index), seconds, 0)
    credited = (visit >= 0) & (visit != index) & ~_any(kinds, NO_ACTIONS)
    spent = _time_spent(
        np.where(credited, gap, 0), interaction & (visit >= 0), next_interaction, run_end
    )
    table = pa.table(
        {
            "hit_id": hits["hit_id"],
            "idsite": hits["idsite"],
            "local_date": hits["local_date"],
            "hit_time": hits["hit_time"],
            "visitor_key": hits["visitor_key"],
            "kind": hits["kind"],
            "visit": _nullable(visit, visit < 0),
            "position": _nullable(index - visit + 1, visit < 0, pa.int32()),
            "seconds_since_previous": _nullable(seconds, first),
            "search_keyword": hits["search_keyword"],
            "page_label": hits["page_label"],
            "interaction": _nullable(counts[0], visit < 0, pa.int32()),
            "pageview_number": _nullable(counts[1], visit < 0, pa.int32()),
            "next_page_label": _taken(page_label, next_view),
            "time_spent": _nullable(spent, ~(interaction & (visit >= 0))),
            "previous_kind": _taken(kind, previous_interaction),
            "previous_label": _taken(label, previous_interaction),
            "next_kind": _taken(kind, next_interaction),
            "next_label": _taken(label, next_interaction),
            "first_view_of_page": _nullable(
                _first_views(page_label, visit, kinds["pageview"]), ~kinds["pageview"]
            ),
            "visitor_id": hits["visitor_id"],
            "user_id": hits["user_id"],
        }
    )
    return table, _visits(hits, kinds, visit, page_label)


ACTIONS = ("pageview", "outlink", "download", "event", "search")  # is_action's kinds
# web.visits' count of each kind of hit
COUNTED = {
    "pageviews": "pageview",
    "outlinks": "outlink",
    "downloads": "download",
    "events": "event",
    "searches": "search",
}


def _visits(
    hits: pa.Table, kinds: dict[str, np.ndarray], visit: np.ndarray, page_label: pa.Array
) -> pa.Table:
    """visits.sql's "totals" and the hits its other columns come from, one row per visit.

    A visit's placed hits run from its first to its last placed one, and the rows between
    one visit's first hit and the next one's are its hits, then ignored pings (which count
    nothing): sums and maxima over those runs are the visit's."""
    count = len(visit)
    index = np.arange(count, dtype=np.int64)
    starts = np.flatnonzero(visit == index)
    placed = visit >= 0
    last = _reduced(np.maximum, np.where(placed, index, -1), starts)
    pageview = kinds["pageview"]
    entry = _next_at_or_after(pageview, starts, count)
    entry = np.where(entry <= last, entry, -1) if len(starts) else entry
    leaving = _reduced(np.maximum, np.where(pageview, index, -1), starts)
    campaign = _next_at_or_after(_flags(hits["campaign_referrer"]) & placed, starts, count)
    referrer = np.where(campaign <= last, campaign, starts) if len(starts) else campaign
    hit_id, hit_time = hits["hit_id"], hits["hit_time"]
    columns: dict[str, Any] = {
        "visit": pa.array(starts),
        "idsite": hits["idsite"].take(starts),
        "local_date": hits["local_date"].take(starts),
        "visitor_key": hits["visitor_key"].take(starts),
        "first_hit_id": hit_id.take(starts),
        "started_at": hit_time.take(starts),
        "ended_at": hit_time.take(last),
        "actions": _reduced(np.add, _any(kinds, ACTIONS).astype(np.int64), starts),
    }
    for name, kind in COUNTED.items():
        columns[name] = _reduced(np.add, kinds[kind].astype(np.int64), starts)
    for name, rows in (("entry", entry), ("exit", leaving)):
        columns[f"{name}_hit_id"] = _taken(hit_id, rows)
        columns[f"{name}_time"] = _taken(hit_time, rows)
        columns[f"{name}_label"] = _taken(page_label, rows)
    columns["referrer_hit_id"] = hit_id.take(referrer)
    columns["referrer_time"] = hit_time.take(referrer)
    return pa.table(columns)


def _reduced(operation: np.ufunc, values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``operation`` over each run of ``values`` from one start to the next (to the end)."""
    if not len(starts):
        return np.zeros(0, dtype=values.dtype)
    reduced: np.ndarray = operation.reduceat(values, starts)
    return reduced


def _visitor_day_starts(hits: pa.Table) -> np.ndarray:
    """True where a hit is its visitor-day's first (site, local day or visitor key change)."""
    count = hits.num_rows
    first = np.ones(count, dtype=bool)
    if count > 1:
        changed = np.zeros(count - 1, dtype=bool)
        for name in ("idsite", "local_date", "visitor_key"):
            column = hits[name]
            changed |= _flags(pc.not_equal(column.slice(1), column.slice(0, count - 1)))
        first[1:] = changed
    return first


def _kinds(kind: pa.ChunkedArray) -> dict[str, np.ndarray]:
    """A mask per kind of hit that the rules name."""
    encoded = pc.dictionary_encode(kind).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    names = encoded.dictionary.to_pylist()
    wanted = ("ping", *NO_ACTIONS, *ACTIONS)
    return {
        name: (codes == names.index(name)) if name in names else np.zeros(len(kind), dtype=bool)
        for name in wanted
    }


def _any(kinds: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    found = np.zeros(len(kinds["ping"]), dtype=bool)
    for name in names:
        found |= kinds[name]
    return found


def _flags(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A boolean column as a numpy mask, null as False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _seconds_since_previous(hit_time: pa.ChunkedArray, first: np.ndarray) -> np.ndarray:
    """DuckDB's date_diff('second') from the previous hit (whole epoch seconds apart); 0 at
    a visitor-day's first hit (which has none: masked where it is used)."""
    micros = hit_time.cast(pa.int64()).to_numpy()
    whole = np.floor_divide(micros, 1_000_000)
    seconds = np.zeros(len(micros), dtype=np.int64)
    seconds[1:] = np.diff(whole)
    seconds[first] = 0
    return seconds


def _timed(
    order: Order, ping: np.ndarray, seconds: np.ndarray, new_visit: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """actions.sql's "idle" and "timed": ignored pings (orphans) and time breaks.

    An "idle" ping has nothing before it that day or 30 idle minutes before it; a hit
    follows an idle ping when the last idle ping so far is later than the last hit before
    it that is no ping. Running maxima of indices over the whole order stand for the
    windows: an index before the hit's visitor-day start is "none"."""
    idle = ~order.first & (seconds > IDLE_SECONDS)
    idle_ping = np.maximum.accumulate(np.where(ping & (order.first | idle), order.index, -1))
    last_hit = np.maximum.accumulate(np.where(~ping, order.index, -1))
    previous_hit = _previous(last_hit)
    after_idle = (idle_ping >= order.start) & (idle_ping > previous_hit)
    orphan = ping & after_idle
    time_break = ~ping & (order.first | after_idle | idle | new_visit)
    return orphan, time_break


def _broken(hits: pa.Table, order: Order, time_break: np.ndarray) -> np.ndarray:
    """actions.sql's "marked", "named", "marks" and "broken": time breaks, and hits whose
    campaign (or website, where the site says so) differs from the visit's."""
    segment = np.cumsum(time_break | order.first)
    direct_mark = pc.if_else(_mask(_flags(hits["direct"])), "=direct", "=other")
    at_break = pc.coalesce(hits["campaign"], hits["website_mark"], direct_mark)
    later = pc.coalesce(hits["campaign"], hits["website_mark"])
    mark = pc.if_else(_mask(time_break), at_break, later)
    marks, names = _codes(mark), _codes(hits["campaign_name"])
    mark_codes, mark_values = marks
    name_codes, name_values = names
    marked = np.flatnonzero(mark_codes >= 0)
    same = _same_as_previous(segment[marked])
    previous_name = np.where(same, _previous(name_codes[marked]), -1)
    empty = name_values.index("") if "" in name_values else -2
    previous_name = np.where(previous_name < 0, empty, previous_name)
    keywordless = _flags(hits["keywordless"])[marked]
    kept = marked[~(keywordless & (name_codes[marked] == previous_name))]
    kept_marks = mark_codes[kept]
    follows = _same_as_previous(segment[kept])
    previous_mark = _previous(kept_marks)
    direct = mark_values.index("=direct") if "=direct" in mark_values else -2
    website = np.array([value.startswith("=website|") for value in mark_values] + [False])
    changes = (
        follows & ((previous_mark != direct) | website[kept_marks]) & (kept_marks != previous_mark)
    )
    visit_break = time_break.copy()
    visit_break[kept[changes]] = True
    return visit_break


def _codes(values: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list[str]]:
    """Integer codes of a text column (-1 for null) and the texts they stand for."""
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def _previous(values: np.ndarray) -> np.ndarray:
    """Each row's previous value (-1 for the first row)."""
    shifted = np.full(len(values), -1, dtype=np.int64)
    shifted[1:] = values[:-1]
    return shifted


def _same_as_previous(groups: np.ndarray) -> np.ndarray:
    """True where a row has a row before it in the same group (groups sorted)."""
    same = np.zeros(len(groups), dtype=bool)
    same[1:] = groups[1:] == groups[:-1]
    return same


def _counted(
    visit: np.ndarray, interaction: np.ndarray, pageview: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each placed hit's interactions and page views in its visit so far, itself counted:
    running totals over the order less those before the visit's first hit."""
    start = np.maximum(visit, 0)
    counts = []
    for mask in (interaction, pageview):
        running = np.cumsum(mask, dtype=np.int64)
        before_visit = running[start] - mask[start]
        counts.append(running - before_visit)
    return counts[0], counts[1]


def _last_before(mask: np.ndarray, index: np.ndarray, visit: np.ndarray) -> np.ndarray:
    """The last index before each hit where ``mask`` holds, in the hit's visit (else -1)."""
    last = np.maximum.accumulate(np.where(mask, index, -1))
    before = _previous(last)
    return np.where((visit >= 0) & (before >= visit), before, -1)


def _next_at_or_after(mask: np.ndarray, after: np.ndarray, count: int) -> np.ndarray:
    """For each hit, the first index ≥ ``after`` (its own index + 1) where ``mask`` holds,
    else ``count``."""
    found = np.where(mask, np.arange(count), count)
    following = np.minimum.accumulate(found[::-1])[::-1]
    padded: np.ndarray = np.concatenate((following, [count]))
    found_after: np.ndarray = padded[np.minimum(after, count)]
    return found_after


def _time_spent(
    credited: np.ndarray, interaction: np.ndarray, next_interaction: np.ndarray, run_end: np.ndarray
) -> np.ndarray:
    """actions.sql's "page_times": an interaction is credited the gaps of the hits after it
    up to and including the next interaction of its visit (to its end when none)."""
    running = np.cumsum(credited, dtype=np.int64)
    last = np.where(next_interaction >= 0, next_interaction, run_end - 1)
    index = np.arange(len(credited))
    spent = running[np.maximum(last, 0)] - running
    return np.where(interaction & (last >= index), spent, 0)


def _first_views(
    page_label: pa.DictionaryArray, visit: np.ndarray, pageview: np.ndarray
) -> np.ndarray:
    """True for a page view that is its visit's first of its label (null labels alike)."""
    views = np.flatnonzero(pageview & (visit >= 0))
    codes = pc.fill_null(page_label.indices, -1).to_numpy(zero_copy_only=False)
    labels = codes.astype(np.int64)[views]
    ordered = np.lexsort((views, labels, visit[views]))
    group_visit, group_label = visit[views][ordered], labels[ordered]
    opens = np.ones(len(views), dtype=bool)
    opens[1:] = (group_visit[1:] != group_visit[:-1]) | (group_label[1:] != group_label[:-1])
    first = np.zeros(len(visit), dtype=bool)
    first[views[ordered][opens]] = True
    return first


def _dictionary(values: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    """A text column dictionary-encoded, as one array (nulls stay null)."""
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return encoded


def _mask(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.bool_())


def _nullable(values: np.ndarray, null: np.ndarray, kind: pa.DataType | None = None) -> pa.Array:
    """``values`` as Arrow, null where ``null`` holds."""
    array = pa.array(values, mask=null)
    return array.cast(kind) if kind is not None else array


def _taken(values: pa.ChunkedArray | pa.Array, indices: np.ndarray) -> pa.Array | pa.ChunkedArray:
    """``values`` at ``indices``, null where an index is -1."""
    return values.take(pa.array(indices, mask=indices < 0))
