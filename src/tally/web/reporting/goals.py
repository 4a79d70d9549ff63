"""``Goals.get`` (conversions, conversion rate, revenue; one goal with ``idGoal``) and
``Goals.getConversions`` (the same per goal, one row each), from web.conversions."""

from __future__ import annotations

from tally.errors import BadInputError, NotFoundError
from tally.web.reporting.ecommerce import conversions_of
from tally.web.reporting.methods import Query, Report, Row, method, ratio, rounded, scoped_visits
from tally.web.reporting.queries import report_sql
from tally.web.sites import goal_exists, goal_names


def conversion_rate(part: float, whole: float) -> str:
    """Matomo's conversion rate: a percentage with up to two decimals (``"33.33%"``)."""
    return f"{ratio(100 * part, whole, 2)}%"


def _goal_totals(query: Query) -> tuple[int, dict[int, tuple[int, int, float]]]:
    """(visits of the period, {idgoal: (conversions, converted visits, revenue)})."""
    visits, params = scoped_visits(query)
    found = query.warehouse.rows(report_sql("goal_totals", visits=visits), params)
    per_goal = {int(g): (int(n), int(c), float(r)) for _, g, n, c, r in found if g is not None}
    return int(found[0][0]), per_goal


# Matomo's names of the ecommerce "goals" (core/Piwik.php LABEL_ID_GOAL_IS_ECOMMERCE_*) and
# their ids in conversions (core/Tracker/GoalManager.php IDGOAL_ORDER, IDGOAL_CART)
ECOMMERCE_GOALS = {"ecommerceOrder": 0, "ecommerceAbandonedCart": -1}


def _chosen_goal(query: Query) -> int | None:
    raw = query.params.get("idGoal", "")
    if raw == "":
        return None
    if raw in ECOMMERCE_GOALS:
        return ECOMMERCE_GOALS[raw]
    if not raw.isdigit():
        raise BadInputError(f"idGoal {raw!r} is not a goal id", field="idGoal")
    idgoal = int(raw)
    if not goal_exists(query.warehouse, query.idsite, idgoal):
        raise NotFoundError(f"site {query.idsite} has no goal {idgoal} (see: tally goal list)")
    return idgoal


@method("Goals.get", single_row=True)
def goals_overview(query: Query) -> Report:
    """Conversions of every goal together, or of goal ``idGoal``; rate over all visits."""
    idgoal = _chosen_goal(query)
    count, per_goal = _goal_totals(query)
    if idgoal is not None and idgoal <= 0:
        return ecommerce_overview(query, idgoal, count, per_goal.get(idgoal, (0, 0, 0.0)))
    per_goal.pop(-1, None)  # abandoned carts are no conversion
    if idgoal is not None:
        conversions, converted, revenue = per_goal.get(idgoal, (0, 0, 0.0))
        rate = conversion_rate(conversions, count)  # Matomo: a goal's conversions per visit
    else:
        conversions = sum(values[0] for values in per_goal.values())
        revenue = sum(values[2] for values in per_goal.values())
        converted = _converted_visits(query)
        rate = conversion_rate(converted, count)  # any goal: converted visits per visit
    return {
        "nb_conversions": conversions,
        "nb_visits_converted": converted,
        "revenue": rounded(revenue, 2),
        "conversion_rate": rate,
        "nb_visits": count,  # tally adds the denominator of the rate
    }


def _converted_visits(query: Query) -> int:
    visits, params = scoped_visits(query)
    sql = f"SELECT count(*) FROM ({visits}) AS v WHERE v.conversions > 0"
    return int(query.warehouse.rows(sql, params)[0][0])


def ecommerce_overview(
    query: Query, idgoal: int, visits: int, totals: tuple[int, int, float]
) -> Report:
    """Goals.get for ``ecommerceOrder`` (0) or ``ecommerceAbandonedCart`` (-1): Matomo's
    ecommerce metrics, the amounts summed from the orders' (or carts') own fields."""
    conversions, converted, revenue = totals
    found = conversions_of(query, idgoal)
    items = sum(item[4] for facts in found for item in facts.get("items", []))
    answer: Row = {
        "nb_conversions": conversions,
        "nb_visits_converted": converted,
        "revenue": rounded(revenue, 2),
        "conversion_rate": conversion_rate(converted, visits),
        "items": rounded(items, 2),
    }
    if idgoal == 0:
        for key in ("subtotal", "tax", "shipping", "discount"):
            answer[f"revenue_{key}"] = rounded(sum(f.get(key) or 0 for f in found), 2)
        answer["avg_order_revenue"] = ratio(revenue, conversions, 2)
    return answer


@method("Goals.getConversions")
def conversions_by_goal(query: Query) -> Report:
    """One row per goal of the site (goals without conversions too), busiest first."""
    count, per_goal = _goal_totals(query)
    goals = goal_names(query.warehouse, query.idsite)
    rows: list[Row] = []
    for idgoal, name in goals.items():
        conversions, converted, revenue = per_goal.get(int(idgoal), (0, 0, 0.0))
        rows.append(
            {
                "label": name,
                "idgoal": int(idgoal),
                "nb_conversions": conversions,
                "nb_visits_converted": converted,
                "revenue": rounded(revenue, 2),
                "conversion_rate": conversion_rate(conversions, count),
            }
        )
    rows.sort(key=lambda row: (-int(row["nb_conversions"]), int(row["idgoal"])))  # type: ignore[call-overload]
    return rows
