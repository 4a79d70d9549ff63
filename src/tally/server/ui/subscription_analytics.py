"""The subscriptions dashboard's analytics panels: money in the reporting currency, MRR and
its movements (``marts.subscription_fact``), cohort retention and LTV, and revenue by
acquisition channel and campaign.

Every money figure here is converted to the reporting currency (``meta_8`` Converted in
the fact table) before anything is added up; the own-currency figures stay on their own
panel, one line per currency, never stacked.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tally.server.ui.render import Panel, lines
from tally.warehouse import Warehouse

FACT = "marts.subscription_fact"
MOVEMENTS = (
    "New MRR",
    "Expansion MRR",
    "Reactivation MRR",
    "Contraction MRR",
    "Churn MRR",
    "Exchange rate MRR",
)


def _where(filters: Any) -> tuple[str, list[object]]:
    sql = "resolution_type = ? AND start_date >= ? AND start_date <= ?"
    params: list[object] = [filters.resolution, filters.start, filters.end]
    if filters.country:
        sql += " AND country = ?"
        params.append(filters.country)
    if filters.platform:
        sql += " AND platform = ?"
        params.append(filters.platform)
    return sql, params


def reporting_currency(warehouse: Warehouse) -> str:
    found = warehouse.rows("SELECT max(reporting_currency) FROM marts.dim_exchange_rate")
    return str(found[0][0] or "")


def converted_revenue_panel(warehouse: Warehouse, filters: Any) -> Panel | None:
    """Revenue converted to the reporting currency at each day's rate, stacked by country
    (a sum that is meaningful: one currency)."""
    if not warehouse.table_exists(FACT):
        return None
    where, params = _where(filters)
    currency = reporting_currency(warehouse)
    found = warehouse.rows(
        f"SELECT start_date, country, sum(value) FROM {FACT} WHERE {where} "
        "AND type = 'Revenue' AND meta_8 = 'Converted' GROUP BY 1, 2 ORDER BY 1, 2",
        params,
    )
    days = sorted({row[0] for row in found})
    countries = sorted({row[1] for row in found})
    values = {(row[0], row[1]): round(float(row[2]), 2) for row in found}
    series = {c: [values.get((d, c), 0.0) for d in days] for c in countries}
    return Panel(
        "revenue-converted",
        f"Revenue in {currency} (converted at each day's rate, net of refunds)",
        ["period", *countries, "total"],
        [[d, *[values.get((d, c), 0.0) for c in countries], _total(values, d)] for d in days],
        lines([d.isoformat() for d in days], series, kind="bar"),
        note="Each day's revenue is converted from its own currency at that day's rate "
        "(the exchange-rate sheet) before countries are added; days without a rate are "
        "left out. Own-currency figures: the panel 'Revenue by currency'.",
    )


def _total(values: dict[tuple[dt.date, str], float], day: dt.date) -> float:
    return round(sum(v for (d, _), v in values.items() if d == day), 2)


def mrr_panels(warehouse: Warehouse, filters: Any) -> list[Panel]:
    """MRR at the end of each period and the movements that explain it, converted."""
    if not warehouse.table_exists(FACT):
        return []
    where, params = _where(filters)
    currency = reporting_currency(warehouse)
    found = warehouse.rows(
        f"SELECT start_date, type, sum(value) FROM {FACT} WHERE {where} "
        "AND meta_8 = 'Converted' AND (type LIKE '% MRR' OR type IN ('MRR', 'ARR')) "
        "GROUP BY 1, 2",
        params,
    )
    values = {(row[0], row[1]): round(float(row[2]), 2) for row in found}
    days = sorted({row[0] for row in found})
    labels = [d.isoformat() for d in days]
    movement_chart = lines(labels, {m: [values.get((d, m), 0.0) for d in days] for m in MOVEMENTS})
    movement_chart["layout"] = {**movement_chart["layout"], "barmode": "relative"}
    for trace in movement_chart["data"]:
        trace["type"] = "bar"
        trace.pop("mode", None)
    net = [round(sum(values.get((d, m), 0.0) for m in MOVEMENTS), 2) for d in days]
    movement_chart["data"].append(
        {"type": "scatter", "mode": "lines+markers", "name": "Net", "x": labels, "y": net}
    )
    return [
        Panel(
            "mrr",
            f"MRR and ARR in {currency} (end of period)",
            ["period", "MRR", "ARR"],
            [[d, values.get((d, "MRR"), 0.0), values.get((d, "ARR"), 0.0)] for d in days],
            lines(labels, {"MRR": [values.get((d, "MRR"), 0.0) for d in days]}),
        ),
        Panel(
            "mrr-movements",
            f"MRR movements in {currency}",
            ["period", *MOVEMENTS, "net"],
            [
                [d, *[values.get((d, m), 0.0) for m in MOVEMENTS], n]
                for d, n in zip(days, net, strict=True)
            ],
            movement_chart,
            note="New, expansion and reactivation add MRR; contraction and churn take it away "
            "(negative). Exchange rate: MRR kept at a renewal, converted at the newer rate. "
            "Definitions: docs/metrics.md, 'Recurring revenue'.",
        ),
    ]
