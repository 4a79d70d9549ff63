"""Visit metrics grouped by expressions over a visit and its first hit (for reports whose
dimension lives in web.hits: brand, model, city, the visitor's local hour)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tally.web.reporting.methods import (
    ADDITIVE,
    VISIT_METRIC_NAMES,
    VISIT_METRICS,
    Query,
    scoped_visits,
)
from tally.web.reporting.queries import report_sql

# additive visit metrics (VISIT_METRIC_NAMES) of a group of visits
Metrics = dict[str, int]


def visit_groups(
    query: Query,
    expressions: Sequence[str],
    where: str = "TRUE",
    params: Sequence[object] = (),
    expression_params: Sequence[object] = (),
    aggregates: Sequence[str] = (),
) -> list[tuple[tuple[Any, ...], Metrics]]:
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
    sql = report_sql(
        "visit_groups",
        keys=keys,
        metrics=VISIT_METRICS,
        visits=visits,
        where=where,
        positions=positions,
    )
    found = []
    width = len(expressions) + len(aggregates)
    for row in query.warehouse.rows(sql, [*expression_params, *visit_params, *params]):
        metrics = {
            name: int(value) for name, value in zip(VISIT_METRIC_NAMES, row[width:], strict=True)
        }
        found.append((tuple(row[:width]), metrics))
    return found


def empty_metrics() -> Metrics:
    """The additive visit metrics of no visits, and max_actions 0."""
    return {**dict.fromkeys(ADDITIVE, 0), "max_actions": 0}


def add_into(total: Metrics, metrics: Mapping[str, int]) -> None:
    """Add one group's additive metrics into ``total`` (max_actions: the larger)."""
    for name in ADDITIVE:
        total[name] += metrics[name]
    total["max_actions"] = max(total["max_actions"], metrics["max_actions"])
