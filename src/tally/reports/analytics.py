"""The subscription workbook's analytics sheets: MRR movements, the retention triangle
(subscribers and revenue), LTV per cohort and trial-to-paid by cohort, for one country.

Each sheet is a plain table (a title row, a note, a header, the rows) read from the marts;
money is in the reporting currency (converted at each day's rate, docs/metrics.md) and a
figure whose rate is missing is left empty, never summed in its own currency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tally.warehouse import Warehouse
from tally.warehouse.sqlfiles import sql_file

RESOLUTION = {"daily": "daily", "weekly": "weekly", "monthly": "monthly"}
COHORTS_SHOWN = 24
MOVEMENTS = ("New MRR", "Expansion MRR", "Reactivation MRR", "Contraction MRR", "Churn MRR")


@dataclass(frozen=True)
class Sheet:
    """One analytics sheet: name, a line saying what it shows, header, rows."""

    name: str
    note: str
    header: list[str]
    rows: list[list[Any]]


def analytics_sheets(warehouse: Warehouse, country: str, period: str, day: dt.date) -> list[Sheet]:
    """The sheets whose marts are built (none on a warehouse without them)."""
    found = []
    if warehouse.table_exists("marts.subscription_fact"):
        found.append(mrr_sheet(warehouse, country, period, day))
    if warehouse.table_exists("marts.cohort_retention"):
        found.append(cohort_sheet(warehouse, country, day))
        found.append(cohort_channel_sheet(warehouse, country, day))
    if warehouse.table_exists("marts.cohort_ltv"):
        found.append(ltv_sheet(warehouse, country, day))
    if warehouse.table_exists("marts.trial_cohorts"):
        found.append(trial_sheet(warehouse, country, day))
    if warehouse.table_exists("marts.attribution_channel"):
        found.append(attribution_sheet(warehouse, country, period, day))
    return found


def _currency(warehouse: Warehouse) -> str:
    found = warehouse.rows("SELECT max(reporting_currency) FROM marts.dim_exchange_rate")
    return str(found[0][0] or "")


def mrr_sheet(warehouse: Warehouse, country: str, period: str, day: dt.date) -> Sheet:
    found = warehouse.rows(
        sql_file("tally.reports", "queries/mrr.sql"),
        [country, RESOLUTION[period], day],
    )
    values = {(row[0], row[1]): round(float(row[2]), 2) for row in found}
    columns = ["MRR", "ARR", *MOVEMENTS, "Exchange rate MRR"]
    periods = sorted({row[0] for row in found})
    return Sheet(
        "MRR",
        f"MRR, ARR and MRR movements, {period}, in {_currency(warehouse)} "
        "(contraction and churn negative; docs/metrics.md 'Recurring revenue')",
        ["period", *columns],
        [[p, *[values.get((p, c), 0.0) for c in columns]] for p in periods],
    )


def cohort_sheet(warehouse: Warehouse, country: str, day: dt.date) -> Sheet:
    found = warehouse.rows(
        sql_file("tally.reports", "queries/cohorts.sql"),
        [country, day],
    )
    cohorts = sorted({row[0] for row in found})[-COHORTS_SHOWN:]
    cells = {(row[0], row[1]): row[2:] for row in found}
    ages = sorted({row[1] for row in found if row[0] in cohorts})
    rows = []
    for cohort in cohorts:
        size = cells[(cohort, 0)][0] if (cohort, 0) in cells else 0
        subscribers = [_share(cells.get((cohort, a)), 1, 0) for a in ages]
        revenue = [_share(cells.get((cohort, a)), 3, 2) for a in ages]
        rows.append([cohort, "subscribers", int(size), *subscribers])
        rows.append([cohort, "revenue (MRR)", int(size), *revenue])
    return Sheet(
        "Cohorts",
        "Retention by monthly cohort (first payment month): % of the cohort's subscriptions "
        "paying at each age, and their MRR as % of the cohort's first MRR; empty: not "
        "known yet",
        ["cohort", "retention", "subscriptions", *[f"month {a}" for a in ages]],
        rows,
    )


def cohort_channel_sheet(warehouse: Warehouse, country: str, day: dt.date) -> Sheet:
    """Subscriber retention by monthly cohort and acquisition channel (the first web/app
    touch's channel, 'unattributed' without one)."""
    found = warehouse.rows(sql_file("tally.reports", "queries/cohort_channels.sql"), [country, day])
    cohorts = sorted({row[0] for row in found})[-COHORTS_SHOWN:]
    cells = {(row[0], row[1], row[2]): row[3:] for row in found}
    ages = sorted({row[2] for row in found if row[0] in cohorts})
    rows = []
    for cohort in cohorts:
        for channel in sorted({row[1] for row in found if row[0] == cohort}):
            size = cells[(cohort, channel, 0)][0] if (cohort, channel, 0) in cells else 0
            shares = [_share(cells.get((cohort, channel, a)), 1, 0) for a in ages]
            rows.append([cohort, channel, int(size), *shares])
    return Sheet(
        "Cohorts by channel",
        "Subscriber retention by monthly cohort and acquisition channel (the first web/app "
        "visit linked to the subscription; 'unattributed': none): % of the cohort's "
        "subscriptions paying at each age; empty: not known yet",
        ["cohort", "acquisition channel", "subscriptions", *[f"month {a}" for a in ages]],
        rows,
    )


def _share(cell: Any, part: int, whole: int) -> float | None:
    if cell is None or not cell[whole]:
        return None
    return round(float(cell[part]) / float(cell[whole]) * 100, 1)


def ltv_sheet(warehouse: Warehouse, country: str, day: dt.date) -> Sheet:
    found = warehouse.rows(
        sql_file("tally.reports", "queries/ltv.sql"),
        [country, day],
    )
    rows = [
        [
            cohort,
            int(size),
            known,
            None if revenue is None else round(float(revenue) / size, 2),
            None if projected is None else round(float(projected) / size, 2),
        ]
        for cohort, size, revenue, projected, known in found[-COHORTS_SHOWN:]
    ]
    return Sheet(
        "LTV",
        f"LTV per subscription by monthly cohort, in {_currency(warehouse)}: realised to "
        "date, and projected to 36 months at the cohort's average monthly retention so far",
        ["cohort", "subscriptions", "months known", "realised LTV", "projected LTV (36 m)"],
        rows,
    )


def trial_sheet(warehouse: Warehouse, country: str, day: dt.date) -> Sheet:
    found = warehouse.rows(sql_file("tally.reports", "queries/trials.sql"), [country, day])
    rows = [
        [c, int(t), int(e), int(v), round(float(v) / float(e) * 100, 1) if e else None]
        for c, t, e, v in found[-COHORTS_SHOWN:]
    ]
    return Sheet(
        "Trials",
        "Trial-to-paid by the month the trial started: conversion = converted / ended",
        ["cohort", "trials", "ended", "converted", "conversion %"],
        rows,
    )


def write_sheets(book: Any, sheets: list[Sheet], styles: Any) -> None:
    """Add the sheets to an XlsxWriter workbook (rows in order: constant_memory is fine)."""
    for sheet in sheets:
        page = book.add_worksheet(sheet.name)
        page.write(0, 0, sheet.name, styles["title"])
        page.write(1, 0, sheet.note, styles["note"])
        page.write_row(3, 0, sheet.header, styles["header"])
        for index, row in enumerate(sheet.rows, start=4):
            for column, value in enumerate(row):
                if isinstance(value, dt.date):
                    page.write_datetime(index, column, value, styles["date"])
                elif value is not None:
                    page.write(index, column, value)
        page.set_column(0, 0, 12)
        page.set_column(1, len(sheet.header), 14)
        page.freeze_panes(4, 1)


def period_start(period: str, day: dt.date) -> dt.date:
    if period == "weekly":
        return day - dt.timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return day


def attribution_sheet(warehouse: Warehouse, country: str, period: str, day: dt.date) -> Sheet:
    first = period_start(period, day)
    found = warehouse.rows(
        sql_file("tally.reports", "queries/attribution.sql"),
        [country, first, day],
    )
    rows = [
        [model, channel, campaign, int(n), int(t), int(p), int(c)]
        + [None if r is None else round(float(r), 2)]
        + [None if r is None else round(float(r) / int(n), 2)]
        for model, channel, campaign, n, t, p, c, r in found
    ]
    currency = _currency(warehouse)
    return Sheet(
        "Attribution",
        f"New subscriptions from {first} to {day} by the channel and campaign of the visit "
        f"that brought them (last and first touch), with what they paid so far in {currency}",
        ["model", "channel", "campaign", "subscriptions", "trials", "paid"]
        + ["trial conversions", f"revenue ({currency})", f"realised LTV ({currency})"],
        rows,
    )
