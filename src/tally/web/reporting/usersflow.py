"""``UsersFlow.getUsersFlow``: the pages visits went through, interaction by interaction.

Interaction N of a visit is its N-th page view. Each step lists its pages with the visits
that were there (``nb_visits``), went on to another interaction (``nb_proceeded``) or left
(``nb_exits``), and, per page, where they went next. Matomo keeps the top 5 pages of a step
and folds the rest into "Others"; tally lists every page unless ``limitActionsPerStep=N``.
"""

from __future__ import annotations

from tally.errors import BadInputError
from tally.web.reporting.methods import Query, Report, Row, actions_in_scope, method

OTHERS = "Others"
# step -> page -> (visits that left there, [{"label": next page, "nb_visits": n}] busiest
# first, ties by label)
Flows = dict[int, dict[str, tuple[int, list[Row]]]]


def _flows(query: Query) -> Flows:
    """Each step's pages with their exits and next pages. Sessionize stored each page
    view's number in its visit and the next view's label, so this is one aggregate; what
    remains is building the answer, a Python object per (step, page, next page)."""
    join, where, params = actions_in_scope(query)
    sql = f"""
        SELECT a.pageview_number, a.page_label, a.next_page_label, count(*)
        FROM web.actions AS a {join}
        WHERE {where} AND a.kind = 'pageview'
        GROUP BY 1, 2, 3
    """
    # A year without a limit is about a million rows: the loop touches each once, and the
    # next pages are sorted as (-visits, label) tuples (compared in C, no key function).
    found: dict[tuple[int, object], tuple[list[int], list[tuple[int, str]]]] = {}
    for step, page, following, count in query.warehouse.rows(sql, params):
        entry = found.get((step, page))
        if entry is None:
            entry = found[(step, page)] = ([0], [])
        if following is None:
            entry[0][0] += count
        else:
            entry[1].append((-count, following))
    flows: Flows = {}
    for (step, page), (exits, targets) in found.items():
        targets.sort()
        rows: list[Row] = [{"label": str(label), "nb_visits": -count} for count, label in targets]
        flows.setdefault(int(step), {})[str(page)] = (int(exits[0]), rows)
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


def _visits(exits: int, targets: list[Row]) -> int:
    return exits + sum(int(row["nb_visits"]) for row in targets)  # type: ignore[call-overload]


def _kept(pages: dict[str, tuple[int, list[Row]]], limit: int | None) -> set[str]:
    """The pages of a step shown by name: the ``limit`` busiest (ties by name), or all."""
    ranked = sorted(pages, key=lambda page: (-_visits(*pages[page]), page))
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
            rows = [_page_row(page, exits, targets) for page, (exits, targets) in pages.items()]
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
    pages: dict[str, tuple[int, list[Row]]], kept: set[str], kept_next: set[str]
) -> list[Row]:
    """The step's rows with pages (and next pages) outside the kept ones as "Others"."""
    grouped: dict[str, tuple[int, dict[str, int]]] = {}
    for page, (exits, targets) in pages.items():
        name = page if page in kept else OTHERS
        left, merged = grouped.get(name, (0, {}))
        for row in targets:
            target = str(row["label"])
            target = target if target in kept_next else OTHERS
            merged[target] = merged.get(target, 0) + int(row["nb_visits"])  # type: ignore[call-overload]
        grouped[name] = (left + exits, merged)
    rows = []
    for name, (exits, merged) in grouped.items():
        following = sorted(merged.items(), key=lambda item: (item[0] == OTHERS, -item[1], item[0]))
        targets = [{"label": target, "nb_visits": count} for target, count in following]
        rows.append(_page_row(name, exits, targets))
    return rows


def _page_row(page: str, exits: int, targets: list[Row]) -> Row:
    visits = _visits(exits, targets)
    return {
        "label": page,
        "nb_visits": visits,
        "nb_proceeded": visits - exits,
        "nb_exits": exits,
        "subtable": targets,
    }
