"""Visit metrics grouped by expressions over a visit and its first hit (for reports whose
dimension lives in web.hits: brand, model, city, the visitor's local hour)."""

from __future__ import annotations

from collections.abc import Sequence

from tally.web.reporting.methods import (
    ADDITIVE,
    VISIT_METRIC_NAMES,
    VISIT_METRICS,
    Query,
    Row,
    scoped_visits,
)


def visit_groups(
    query: Query,
    expressions: Sequence[str],
    where: str = "TRUE",
    params: Sequence[object] = (),
    expression_params: Sequence[object] = (),
    aggregates: Sequence[str] = (),
) -> list[tuple[tuple[object, ...], Row]]:
    """((values of ``expressions``), visit metrics) per group of the query's visits.

    The expressions and ``where`` may use ``v`` (web.visits) and ``h`` (the visit's first hit
    in web.hits); values travel as parameters (``expression_params`` for the expressions'
    ``?``, in order, then ``params`` for those of ``where``). ``aggregates`` (``avg(...)``)
    come back after the expressions' values.
    """
    visits, visit_params = scoped_visits(query)
    keys = ", ".join(
        f"{expression} AS d{number}"
        for number, expression in enumerate([*expressions, *aggregates])
    )
    positions = ", ".join(str(number + 1) for number in range(len(expressions)))
    sql = (
        f"SELECT {keys}, {VISIT_METRICS} FROM ({visits}) AS v "
        "LEFT JOIN web.hits AS h ON h.hit_id = v.first_hit_id "
        f"WHERE {where} GROUP BY {positions} ORDER BY nb_visits DESC, {positions}"
    )
    found = []
    width = len(expressions) + len(aggregates)
    for row in query.warehouse.rows(sql, [*expression_params, *visit_params, *params]):
        metrics = {
            name: int(value) for name, value in zip(VISIT_METRIC_NAMES, row[width:], strict=True)
        }
        found.append((tuple(row[:width]), metrics))
    return found


def empty_metrics() -> Row:
    """The additive visit metrics of no visits, and max_actions 0."""
    return {**dict.fromkeys(ADDITIVE, 0), "max_actions": 0}


def add_into(total: Row, metrics: Row) -> None:
    """Add one group's additive metrics into ``total`` (max_actions: the larger)."""
    for name in ADDITIVE:
        total[name] = int(total[name]) + int(metrics[name])  # type: ignore[call-overload]
    total["max_actions"] = max(int(total["max_actions"]), int(metrics["max_actions"]))  # type: ignore[call-overload]
