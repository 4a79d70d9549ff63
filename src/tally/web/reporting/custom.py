"""CustomVariables.getCustomVariables and CustomDimensions.getCustomDimension.

The tracker stores custom variables (``_cvar``/``cvar``: ``{"1": ["name", "value"]}``) and
custom dimensions (``dimensionN=value``) on each hit as JSON text; the JSON is read here in
Python rather than in SQL because DuckDB and PostgreSQL spell JSON access differently.
"""

from __future__ import annotations

import json

from tally.errors import BadInputError
from tally.web.reporting.methods import Query, Report, Row, actions_in_scope, method


def _hit_values(query: Query, column: str) -> list[tuple[str, str]]:
    """(idvisit, JSON text) of every hit of the query's visits carrying ``column``."""
    join, where, params = actions_in_scope(query)
    sql = (
        f"SELECT a.idvisit, h.{column} FROM web.actions AS a {join} "
        "JOIN web.hits AS h ON h.hit_id = a.hit_id "
        f"WHERE {where} AND a.idvisit IS NOT NULL AND h.{column} IS NOT NULL"
    )
    return [(str(idvisit), str(text)) for idvisit, text in query.warehouse.rows(sql, params)]


def _variables(text: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of a hit's custom variables, whatever their scope."""
    try:
        scopes = json.loads(text)
    except json.JSONDecodeError:
        return []  # the tracker checked it on the way in; a hand-edited row is skipped
    pairs = []
    for variables in scopes.values() if isinstance(scopes, dict) else []:
        for pair in variables.values() if isinstance(variables, dict) else []:
            if isinstance(pair, list) and len(pair) == 2:
                pairs.append((str(pair[0]), str(pair[1])))
    return pairs


@method("CustomVariables.getCustomVariables")
def custom_variables(query: Query) -> Report:
    """Visits and actions by custom variable name, each with a subtable of its values."""
    visits: dict[str, set[str]] = {}
    actions: dict[str, int] = {}
    value_visits: dict[str, dict[str, set[str]]] = {}
    value_actions: dict[str, dict[str, int]] = {}
    for idvisit, text in _hit_values(query, "custom_variables"):
        for name, value in set(_variables(text)):
            visits.setdefault(name, set()).add(idvisit)
            actions[name] = actions.get(name, 0) + 1
            value_visits.setdefault(name, {}).setdefault(value, set()).add(idvisit)
            counts = value_actions.setdefault(name, {})
            counts[value] = counts.get(value, 0) + 1
    rows: list[Row] = []
    for name in visits:
        values = [
            {
                "label": value,
                "nb_visits": len(seen),
                "nb_actions": value_actions[name][value],
            }
            for value, seen in value_visits[name].items()
        ]
        values.sort(key=lambda row: (-int(row["nb_visits"]), str(row["label"])))  # type: ignore[call-overload]
        rows.append(
            {
                "label": name,
                "nb_visits": len(visits[name]),
                "nb_actions": actions[name],
                "subtable": values,
            }
        )
    rows.sort(key=lambda row: (-int(row["nb_visits"]), str(row["label"])))  # type: ignore[call-overload]
    return rows


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
