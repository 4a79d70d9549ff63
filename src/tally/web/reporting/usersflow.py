"""``UsersFlow.getUsersFlow``: the pages visits went through, interaction by interaction.

Interaction N of a visit is its N-th page view. Each step lists its pages with the visits
that were there (``nb_visits``), went on to another interaction (``nb_proceeded``) or left
(``nb_exits``), and, per page, where they went next. Matomo keeps the top 5 pages of a step
and folds the rest into "Others"; tally lists every page unless ``limitActionsPerStep=N``.
"""

from __future__ import annotations

from tally.errors import BadInputError
from tally.web.reporting.methods import Query, Report, Row, actions_in_scope, method, page_label

OTHERS = "Others"
# step -> page -> next page (None: the visit left) -> visits
Flows = dict[int, dict[str, dict[str | None, int]]]


def _visit_key(query: Query) -> str:
    """What the window partitions by: on DuckDB a 64-bit hash of the visit id, which sorts
    about a third faster than the 32-character id (two of a year's visits sharing a hash is
    about a one-in-ten-million chance); the id itself elsewhere."""
    return "hash(a.idvisit)" if query.warehouse.capabilities.name == "duckdb" else "a.idvisit"


def _flows(query: Query) -> Flows:
    join, where, params = actions_in_scope(query)
    # One window numbers the views and finds the next one (cheaper than joining the
    # numbered views to themselves); the label is computed once per view, before it.
    sql = f"""
        WITH views AS (
            SELECT {_visit_key(query)} AS visit, a.position, {page_label("a.url")} AS page
            FROM web.actions AS a {join}
            WHERE {where} AND a.kind = 'pageview'
        ),
        seen AS (
            SELECT page,
                row_number() OVER w AS step,
                lead(page) OVER w AS following
            FROM views
            WINDOW w AS (PARTITION BY visit ORDER BY position)
        )
        SELECT step, page, following, count(*) FROM seen GROUP BY 1, 2, 3
    """
    flows: Flows = {}
    for step, page, following, count in query.warehouse.rows(sql, params):
        pages = flows.setdefault(int(step), {})
        targets = pages.setdefault(str(page), {})
        key = None if following is None else str(following)
        targets[key] = targets.get(key, 0) + int(count)
    return flows


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


def _kept(pages: dict[str, dict[str | None, int]], limit: int | None) -> set[str]:
    """The pages of a step shown by name: the ``limit`` busiest (ties by name), or all."""
    ranked = sorted(pages, key=lambda page: (-sum(pages[page].values()), page))
    return set(ranked if limit is None else ranked[:limit])


@method("UsersFlow.getUsersFlow")
def users_flow(query: Query) -> Report:
    """Per interaction step: visits, proceeded and exits, and each page's next pages."""
    limit = _limit(query)
    flows = _flows(query)
    kept = {step: _kept(pages, limit) for step, pages in flows.items()}
    steps: list[Row] = []
    for step in sorted(flows):
        grouped: dict[str, dict[str | None, int]] = {}
        for page, targets in flows[step].items():
            name = page if page in kept[step] else OTHERS
            merged = grouped.setdefault(name, {})
            for target, count in targets.items():
                if target is not None and target not in kept.get(step + 1, set()):
                    target = OTHERS
                merged[target] = merged.get(target, 0) + count
        rows = [_page_row(page, targets) for page, targets in grouped.items()]
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


def _page_row(page: str, targets: dict[str | None, int]) -> Row:
    exits = targets.get(None, 0)
    visits = sum(targets.values())
    following = sorted(
        ((target, count) for target, count in targets.items() if target is not None),
        key=lambda item: (item[0] == OTHERS, -item[1], item[0]),
    )
    return {
        "label": page,
        "nb_visits": visits,
        "nb_proceeded": visits - exits,
        "nb_exits": exits,
        "subtable": [{"label": target, "nb_visits": count} for target, count in following],
    }
