"""CustomVariables.getCustomVariables and CustomDimensions.getCustomDimension.

The tracker stores custom variables (``_cvar``/``cvar``: ``{"1": ["name", "value"]}``) and
custom dimensions (``dimensionN=value``) on each hit as JSON text; the JSON is read here in
Python rather than in SQL because DuckDB and PostgreSQL spell JSON access differently.
"""

from __future__ import annotations

import json

from tally.errors import BadInputError
from tally.web.reporting.methods import (
    Query,
    Report,
    Row,
    actions_in_scope,
    method,
    scoped_visits,
)
from tally.web.reporting.queries import report_sql


def _hit_values(query: Query, column: str) -> list[tuple[str, str]]:
    """(idvisit, JSON text) of every hit of the query's visits carrying ``column``, in each
    visit's order."""
    join, where, params = actions_in_scope(query)
    sql = report_sql("hit_values", column=column, join=join, where=where)
    return [(str(idvisit), str(text)) for idvisit, text in query.warehouse.rows(sql, params)]


# the loader writes "visit" (from _cvar) and "page" (from cvar); the tracking parameter
# names are read too
SCOPES = {"visit": "visit", "_cvar": "visit", "page": "page", "cvar": "page"}


def _scopes(text: str) -> dict[str, dict[str, tuple[str, str]]]:
    """A hit's custom variables: {scope: {slot: (name, value)}} (scopes "visit", "page")."""
    try:
        scopes = json.loads(text)
    except json.JSONDecodeError:
        return {}  # the tracker checked it on the way in; a hand-edited row is skipped
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for scope, variables in scopes.items() if isinstance(scopes, dict) else []:
        for slot, pair in variables.items() if isinstance(variables, dict) else []:
            if isinstance(pair, list) and len(pair) == 2:
                named = SCOPES.get(str(scope), "page")
                found.setdefault(named, {})[str(slot)] = (str(pair[0]), str(pair[1]))
    return found


_VISIT_FIELDS = ("nb_visits", "nb_actions", "max_actions", "sum_visit_length", "bounce_count",
                 "nb_visits_converted")  # fmt: skip


@method("CustomVariables.getCustomVariables")
def custom_variables(query: Query) -> Report:
    """Visits and actions by custom variable name, each with a subtable of its values.

    Matomo's rule (plugins/CustomVariables/RecordBuilders, from log_visit and
    log_link_visit_action): a visit-scope variable (``_cvar``) belongs to the visit, each
    slot with the last value a request of the visit set, and its rows carry the visit's
    metrics (nb_actions: all the visit's actions, max_actions, sum_visit_length,
    bounce_count, nb_visits_converted); a page-scope one (``cvar``) counts the actions that
    carried it (nb_actions) and their visits. Rows of one name add up across scopes.
    """
    last: dict[str, dict[str, tuple[str, str]]] = {}  # idvisit -> slot -> (name, value)
    page_visits: dict[tuple[str, str | None], set[str]] = {}
    page_actions: dict[tuple[str, str | None], int] = {}
    for idvisit, text in _hit_values(query, "custom_variables"):
        scopes = _scopes(text)
        last.setdefault(idvisit, {}).update(scopes.get("visit", {}))
        for name, value in set(scopes.get("page", {}).values()):
            keys: tuple[tuple[str, str | None], ...] = ((name, None), (name, value))
            for key in keys:
                page_visits.setdefault(key, set()).add(idvisit)
                page_actions[key] = page_actions.get(key, 0) + 1
    metrics = _visit_metrics(query, [idvisit for idvisit, slots in last.items() if slots])
    visit_rows: dict[tuple[str, str | None], dict[str, int]] = {}
    for idvisit, slots in last.items():
        if idvisit not in metrics:
            continue
        actions, seconds, converted = metrics[idvisit]
        for name, value in set(slots.values()):
            visit_keys: tuple[tuple[str, str | None], ...] = ((name, None), (name, value))
            for key in visit_keys:
                row = visit_rows.setdefault(key, dict.fromkeys(_VISIT_FIELDS, 0))
                row["nb_visits"] += 1
                row["nb_actions"] += actions
                row["max_actions"] = max(row["max_actions"], actions)
                row["sum_visit_length"] += seconds
                row["bounce_count"] += 1 if actions <= 1 else 0
                row["nb_visits_converted"] += 1 if converted else 0
    for key, seen in page_visits.items():
        row = visit_rows.setdefault(key, {"nb_visits": 0, "nb_actions": 0})
        row["nb_visits"] += len(seen)
        row["nb_actions"] += page_actions[key]
    rows: list[Row] = []
    for (label, variant), totals in visit_rows.items():
        if variant is not None:
            continue
        values: list[Row] = [
            {"label": v, **found}
            for (n, v), found in visit_rows.items()
            if n == label and v is not None
        ]
        values.sort(key=lambda r: (-int(r["nb_visits"]), str(r["label"])))  # type: ignore[call-overload]
        rows.append({"label": label, **totals, "subtable": values})
    rows.sort(key=lambda r: (-int(r["nb_visits"]), str(r["label"])))  # type: ignore[call-overload]
    return rows


def _visit_metrics(query: Query, idvisits: list[str]) -> dict[str, tuple[int, int, bool]]:
    """{idvisit: (actions, length in seconds, converted)} of these visits of the query."""
    if not idvisits:
        return {}
    visits, params = scoped_visits(query)
    found: dict[str, tuple[int, int, bool]] = {}
    wanted = set(idvisits)
    for idvisit, actions, seconds, conversions in query.warehouse.rows(
        f"SELECT v.idvisit, v.actions, v.duration_seconds, v.conversions FROM ({visits}) AS v",
        params,
    ):
        if str(idvisit) in wanted:
            found[str(idvisit)] = (int(actions or 0), int(seconds or 0), bool(conversions))
    return found


@method("CustomDimensions.getCustomDimension")
def custom_dimension(query: Query) -> Report:
    """Visits and hits by the value of custom dimension ``idDimension``."""
    raw = query.params.get("idDimension", "")
    if not raw.isdigit():
        raise BadInputError(
            "idDimension must be a dimension number (dimension1: 1)", field="idDimension"
        )
    visits: dict[str, set[str]] = {}
    hits: dict[str, int] = {}
    for idvisit, text in _hit_values(query, "dimensions"):
        try:
            value = json.loads(text).get(raw)
        except (json.JSONDecodeError, AttributeError):
            continue
        if value is None:
            continue
        label = str(value)
        visits.setdefault(label, set()).add(idvisit)
        hits[label] = hits.get(label, 0) + 1
    rows: list[Row] = [
        {"label": label, "nb_visits": len(seen), "nb_hits": hits[label]}
        for label, seen in visits.items()
    ]
    rows.sort(key=lambda row: (-int(row["nb_visits"]), str(row["label"])))  # type: ignore[call-overload]
    return rows
