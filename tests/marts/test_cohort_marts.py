"""Cohorts, retention, LTV and trial conversion against a fixture worked out by hand, on
every backend.

The fixture (tests/fixtures/cohorts/) loads 1 Aug (first day) .. 30 Nov 2026 (newest): HK,
iOS, PREMIUM_M, 100 HKD a month, every time 10:00 +08:00. No exchange-rate sheet is
loaded, so nothing converts to the reporting currency (USD): those columns stay empty.

    X1  paid from 1 Aug, renewed 1 Sep, 1 Oct, 1 Nov: access to 1 Dec
    X2  paid 10 Aug, never renewed: access ends 10 Sep
    X3  paid 20 Aug, renewed 20 Sep: access ends 20 Oct
    X4  paid 15 Sep, renewed 15 Oct and, at a new price of 150 HKD, 15 Nov
    X5  trial 1 Oct .. 8 Oct, paid 8 Oct, never renewed: access ends 8 Nov
    X6  trial 5 Oct .. 12 Oct, never paid

August cohort (X1, X2, X3; anniversaries = first paid day + k months):
    age 0  1 Aug, 10 Aug, 20 Aug        3 of 3 retained, MRR 300
    age 1  1 Sep, 10 Sep, 20 Sep        X1, X3 (X2's access ended 10 Sep): 2, MRR 200
    age 2  1 Oct, 10 Oct, 20 Oct        X1 only (X3's ended 20 Oct): 1, MRR 100
    age 3  1 Nov, 10 Nov, 20 Nov        X1: 1, MRR 100
    age 4  1 Dec ... after 30 Nov       nobody known yet: no row
LTV: paid 400 + 100 + 200 = 700 HKD, realised 700 / 3 = 233.33. Every member has reached
age 3 (known_age 3), where 1 of 3 is left: monthly retention (1/3)^(1/3) = 0.693361; MRR
per member 100 / 3 = 33.33. Months 4..36 ahead (33 months) at that retention:
r (1 - r^33) / (1 - r) = 2.261154 months of MRR, so projected = 233.33 + 33.33 * 2.261154
= 308.71 HKD.
September cohort (X4): ages 0, 1, 2 retained with MRR 100, 100, 150 (revenue retention
150 %); age 3 (15 Dec) unknown. known_age 2, retention 1 (nobody lost): the 34 months
left at MRR 150: projected = 350 + 150 * 34 = 5,450 HKD.
October cohort (X5): age 0 retained, age 1 (8 Nov) not: retention 0, projected = realised =
100 HKD.
Trials in October: 2 started, 2 ended, 1 converted (X5).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from tally.config import Settings
from tally.lake import Lake
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.warehouse import Warehouse

from .conftest import STATUS_TABLE, TRANSACTIONS_TABLE, load_fixture_csv

D = dt.date
FIXTURES = Path(__file__).parent.parent / "fixtures" / "cohorts"
MODELS = (
    "staging.viu_premium_transactions_latest",
    "marts.subscription_bounds",
    "marts.subscription_periods",
    "marts.plan_list_prices",
    "marts.subscription_list_prices",
    "marts.dim_country_offset",
    "marts.subscription_mrr",
    "marts.dim_segment",
    "marts.subscription_revenue",
    "marts.subscription_attribution",
    "marts.cohort_members",
    "marts.cohort_retention",
    "marts.cohort_ltv",
    "marts.trial_periods",
    "marts.trial_cohorts",
)


@pytest.fixture(scope="module")
def marts(
    module_warehouse: Warehouse, module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    load_fixture_csv(module_warehouse, FIXTURES / "transactions.csv", TRANSACTIONS_TABLE)
    load_fixture_csv(module_warehouse, FIXTURES / "status.csv", STATUS_TABLE)
    models = [m for m in discover_models() if m.table in MODELS]
    lake = Lake(str(tmp_path_factory.mktemp("lake")))
    outcome = build(Context(module_settings, module_warehouse, lake), models)
    assert all(status == "ok" for status in outcome.values()), outcome
    with module_warehouse.session():
        yield module_warehouse


def triangle(warehouse: Warehouse, resolution: str, cohort: dt.date) -> list[tuple]:
    return [
        tuple(row)
        for row in warehouse.rows(
            "SELECT age, cohort_size, eligible, retained, mrr_start, mrr_retained "
            "FROM marts.cohort_retention WHERE cohort_resolution = ? AND cohort_start = ? "
            "ORDER BY age",
            [resolution, cohort],
        )
    ]


def test_monthly_triangle(marts: Warehouse) -> None:
    assert triangle(marts, "monthly", D(2026, 8, 1)) == [
        (0, 3, 3, 3, 300.0, 300.0),
        (1, 3, 3, 2, 300.0, 200.0),
        (2, 3, 3, 1, 300.0, 100.0),
        (3, 3, 3, 1, 300.0, 100.0),
    ]
    assert triangle(marts, "monthly", D(2026, 9, 1)) == [
        (0, 1, 1, 1, 100.0, 100.0),
        (1, 1, 1, 1, 100.0, 100.0),
        (2, 1, 1, 1, 100.0, 150.0),  # revenue retention 150 %: the new price
    ]
    assert triangle(marts, "monthly", D(2026, 10, 1)) == [
        (0, 1, 1, 1, 100.0, 100.0),
        (1, 1, 1, 0, 100.0, 0.0),
    ]


def test_weekly_triangle(marts: Warehouse) -> None:
    """X2 (week of Monday 10 Aug): its anniversaries 17 Aug .. 7 Sep fall in its one paid
    month, 14 Sep does not; weekly cohorts keep their first 12 weeks (to 2 Nov)."""
    rows = triangle(marts, "weekly", D(2026, 8, 10))
    assert [r[3] for r in rows[:6]] == [1, 1, 1, 1, 1, 0]
    assert rows[-1][0] == 12  # weekly cohorts keep their first 12 weeks
    assert sum(r[3] for r in rows) == 5


def test_ltv_realised_and_projected(marts: Warehouse) -> None:
    found = {
        row[0]: (*row[1:5], round(row[5], 6), *row[6:])
        for row in marts.rows(
            "SELECT cohort_start, cohort_size, known_age, revenue_to_date, realised_ltv, "
            "monthly_retention, mrr_per_member, projected_ltv, "
            "projected_ltv_reporting FROM marts.cohort_ltv"
        )
    }
    assert found[D(2026, 8, 1)] == (3, 3, 700.0, 233.33, 0.693361, 33.33, 308.71, None)
    assert found[D(2026, 9, 1)] == (1, 2, 350.0, 350.0, 1.0, 150.0, 5450.0, None)
    assert found[D(2026, 10, 1)] == (1, 1, 100.0, 100.0, 0.0, 0.0, 100.0, None)


def test_trial_conversion_by_cohort(marts: Warehouse) -> None:
    found = marts.rows(
        "SELECT cohort_resolution, cohort_start, trials, ended, converted "
        "FROM marts.trial_cohorts ORDER BY 1, 2"
    )
    assert [tuple(r) for r in found] == [
        ("monthly", D(2026, 10, 1), 2, 2, 1),
        ("weekly", D(2026, 9, 28), 1, 1, 1),  # X5: 1 Oct is a Thursday
        ("weekly", D(2026, 10, 5), 1, 1, 0),  # X6
    ]
