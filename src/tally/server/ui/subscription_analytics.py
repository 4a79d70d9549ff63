"""The subscriptions dashboard's analytics panels: money in the reporting currency, MRR and
its movements (``marts.subscription_fact``), cohort retention and LTV, and revenue by
acquisition channel and campaign.

Every money figure here is converted to the reporting currency (``meta_8`` Converted in
the fact table) before anything is added up; the own-currency figures stay on their own
panel, one line per currency, never stacked.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from tally.server.ui.render import Panel, bars, lines
from tally.warehouse import Warehouse
from tally.warehouse.sqlfiles import sql_file

if TYPE_CHECKING:
    from tally.server.ui.subscriptions import Filters

FACT = "marts.subscription_fact"
MOVEMENTS = (
    "New MRR",
    "Expansion MRR",
    "Reactivation MRR",
    "Contraction MRR",
    "Churn MRR",
    "Exchange rate MRR",
)


def _query(name: str, **fragments: str) -> str:
    """A dashboard query beyond a lookup, kept in ``server/ui/queries/<name>.sql``."""
    return sql_file("tally.server.ui", f"queries/{name}.sql", **fragments)


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
    found = warehouse.rows(_query("revenue_by_country", where=where), params)
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
    found = warehouse.rows(_query("mrr", where=where), params)
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


def _dims(filters: Any, alias: str = "", cohorts: bool = False) -> tuple[str, list[object]]:
    """The country and platform filters (and, for the cohort marts, the acquisition
    channel's) as SQL conditions and their parameters."""
    sql, params = "", []
    for column in ("country", "platform"):
        value = getattr(filters, column)
        if value:
            sql += f" AND {alias}{column} = ?"
            params.append(value)
    acquisition = getattr(filters, "acquisition", "")
    if cohorts and acquisition:
        sql += f" AND {alias}acquisition_channel = ?"
        params.append(acquisition)
    return sql, params


def acquisition_channels(warehouse: Warehouse) -> list[str]:
    """The acquisition channels the cohorts have (the cohort panels' filter)."""
    if not warehouse.table_exists("marts.cohort_retention"):
        return []
    found = warehouse.rows(
        "SELECT DISTINCT acquisition_channel FROM marts.cohort_retention ORDER BY 1"
    )
    return [str(row[0]) for row in found]


COHORTS_SHOWN = 12


def retention_panel(warehouse: Warehouse, filters: Any) -> Panel | None:
    """The retention triangle as a heat map: share of each cohort's subscriptions with paid
    access at each age (weekly cohorts at weekly resolution, else monthly)."""
    if not warehouse.table_exists("marts.cohort_retention"):
        return None
    resolution = "weekly" if filters.resolution == "weekly" else "monthly"
    dims, params = _dims(filters, cohorts=True)
    found = warehouse.rows(_query("retention", dims=dims), [resolution, filters.end, *params])
    cohorts = sorted({row[0] for row in found})[-COHORTS_SHOWN:]
    cells = {(row[0], row[1]): row[2:] for row in found if row[0] in cohorts}
    ages = sorted({age for _, age in cells})
    share = {key: _percent(value[1], value[0]) for key, value in cells.items()}
    sizes = {c: int(cells[(c, 0)][0]) if (c, 0) in cells else 0 for c in cohorts}
    unit = "week" if resolution == "weekly" else "month"
    acquired = f" acquired through {filters.acquisition}" if filters.acquisition else ""
    chart = {
        "data": [
            {
                "type": "heatmap",
                "x": [f"{unit} {age}" for age in ages],
                "y": [c.isoformat() for c in cohorts],
                "z": [[share.get((c, age)) for age in ages] for c in cohorts],
                "colorscale": "Blues",
                "zmin": 0,
                "zmax": 100,
                "hovertemplate": "cohort %{y}, %{x}: %{z:.1f}%<extra></extra>",
            }
        ],
        "layout": {
            "margin": {"l": 90, "r": 20, "t": 10, "b": 40},
            "height": max(240, 26 * len(cohorts) + 80),
            "yaxis": {"type": "category", "autorange": "reversed"},
            "xaxis": {"type": "category"},
        },
    }
    return Panel(
        "retention",
        f"Subscriber retention by {resolution} cohort{acquired} "
        "(% of the cohort paying at each age)",
        ["cohort", "subscriptions", *[f"{unit} {age}" for age in ages]],
        [[c, sizes[c], *[share.get((c, age)) for age in ages]] for c in cohorts],
        chart,
        note="A cohort is the subscriptions whose first payment fell in the "
        f"{unit}; a cell counts the members whose anniversary has passed (young cohorts "
        "fill in as they age). Acquisition channel: the first web/app visit's channel "
        "linked to the subscription (docs/metrics.md, 'From campaign to revenue'), "
        "'unattributed' when none. Revenue retention and trial-to-paid by cohort: "
        "marts.cohort_retention, marts.trial_cohorts; definitions in docs/metrics.md.",
    )


def _percent(part: Any, whole: Any) -> float | None:
    return round(float(part) / float(whole) * 100, 1) if whole else None


def ltv_panel(warehouse: Warehouse, filters: Any) -> Panel | None:
    """Realised and projected (36-month) LTV per monthly cohort, in the reporting currency."""
    if not warehouse.table_exists("marts.cohort_ltv"):
        return None
    dims, params = _dims(filters, cohorts=True)
    currency = reporting_currency(warehouse)
    found = warehouse.rows(
        sql_file("tally.models", "marts/_dashboard_ltv.sql", dims=dims), [filters.end, *params]
    )
    rows = []
    for cohort, size, revenue, projected in found[-COHORTS_SHOWN:]:
        realised = round(float(revenue) / size, 2) if revenue is not None and size else None
        ahead = round(float(projected) / size, 2) if projected is not None and size else None
        rows.append([cohort, int(size), realised, ahead])
    labels = [r[0].isoformat() for r in rows]
    chart = lines(
        labels,
        {"realised": [r[2] for r in rows], "projected (36 months)": [r[3] for r in rows]},
        kind="bar",
    )
    chart["layout"] = {**chart["layout"], "barmode": "group"}
    return Panel(
        "ltv",
        f"LTV per subscription by monthly cohort, in {currency}",
        ["cohort", "subscriptions", "realised LTV", "projected LTV (36 months)"],
        rows,
        chart,
        note="Realised: what the cohort paid so far (net of refunds) per subscription. "
        "Projected: realised plus the current MRR per member for the months up to 36, "
        "decaying at the cohort's average monthly retention so far (docs/metrics.md); "
        "empty while no member is a month old, or where a rate is missing.",
    )


def _period_end(filters: Filters) -> dt.date:
    """The last day of the filters' newest period."""
    if filters.resolution == "weekly":
        return filters.end + dt.timedelta(days=6)
    if filters.resolution == "monthly":
        following = (filters.end.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return following - dt.timedelta(days=1)
    return filters.end


def attribution_panel(warehouse: Warehouse, filters: Any) -> Panel | None:
    """New subscriptions of the range by the channel and campaign of their last non-direct
    visit, with trials, paid conversions, revenue and realised LTV (reporting currency)."""
    if not warehouse.table_exists("marts.attribution_channel"):
        return None
    dims, params = _dims(filters)
    currency = reporting_currency(warehouse)
    found = warehouse.rows(
        sql_file("tally.models", "marts/_dashboard_attribution.sql", dims=dims),
        [filters.start, _period_end(filters), *params],
    )
    rows = []
    for channel, campaign, subscriptions, trials, paid, converted, revenue in found:
        money = None if revenue is None else round(float(revenue), 2)
        ltv = None if money is None else round(money / int(subscriptions), 2)
        rows.append(
            [channel, campaign, int(subscriptions), int(trials), int(paid), int(converted)]
            + [money, ltv]
        )
    labels = [f"{r[0]}: {r[1]}" if r[1] else r[0] for r in rows]
    chart = bars(labels, [r[6] or 0.0 for r in rows])
    return Panel(
        "attribution",
        f"New subscriptions and revenue by channel and campaign (last touch, {currency})",
        ["channel", "campaign", "subscriptions", "trials", "paid", "trial conversions"]
        + [f"revenue ({currency})", f"realised LTV ({currency})"],
        rows,
        chart,
        note="Each new subscription of the range is tied to the subscriber's last non-direct "
        "visit in the attribution window before it started (Matomo User ID, or the "
        "visitor id the site passed at sign-up); revenue is what those subscriptions paid "
        "so far. First-touch figures: SubscriptionAttribution.getChannels with "
        "attributionModel=first_touch.",
    )
