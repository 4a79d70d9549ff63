"""The seed's other reports on the hand-worked fixture, plus small hand-made staging rows.

Subscriber facts used below (from test_subscriber_marts.py's fixture, HK): New + Reactivation
per day from 26 Oct: 5, 1, 1, 1, 0, 0, 1 (to 1 Nov), 1 (2 Nov, D back), 0, 0, 0, 1 (6 Nov, F
back), 0, 0. Telco: I bought on 1 Nov (Hong Kong time) for 58 HKD and is active since.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from tally.config import Settings
from tally.lake import Lake
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.warehouse import Warehouse

from .conftest import FIXTURES, STATUS_TABLE, TRANSACTIONS_TABLE, build_marts, load_fixture_csv

D = dt.date
REPORTS = (
    "marts.reconciliation_status_export",
    "marts.content_window",
    "marts.content_correlation",
    "marts.telco_performance",
    "marts.yellow_report",
)


def ga_rows(series: str, rows: list[tuple]) -> pa.Table:
    """GA staging rows: (resolution, period start, period end, country, users, landed on)."""
    return pa.table(
        {
            "series": [series] * len(rows),
            "resolution": [r[0] for r in rows],
            "period_start": pa.array([r[1] for r in rows], pa.date32()),
            "period_end": pa.array([r[2] for r in rows], pa.date32()),
            "country": [r[3] for r in rows],
            "dimensions": ["{}"] * len(rows),
            "metric": ["totalUsers"] * len(rows),
            "value": pa.array([float(r[4]) for r in rows]),
            "_partition_date": pa.array([r[5] for r in rows], pa.date32()),
        }
    )


@pytest.fixture(scope="module")
def reports(
    module_warehouse: Warehouse,
    module_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Warehouse]:
    warehouse = module_warehouse
    load_fixture_csv(warehouse, FIXTURES / "transactions.csv", TRANSACTIONS_TABLE)
    load_fixture_csv(warehouse, FIXTURES / "status.csv", STATUS_TABLE)
    lake = tmp_path_factory.mktemp("lake")
    build_marts(warehouse, module_settings, lake)
    # one HK episode released on Monday 2 Nov
    warehouse.append(
        "staging.viu_cms_episodes",
        pa.table(
            {
                "series_id": [7],
                "series_title": ["Harbour Lights"],
                "episode_id": [701],
                "episode_number": [1],
                "country": ["HK"],
                "release_date": pa.array([D(2026, 11, 2)], pa.date32()),
            }
        ),
    )
    # the telco sheet: CSL typed 1 new subscriber and 58 HKD on 1 Nov (and a day before
    # tally's first loaded day, which the comparison leaves out)
    warehouse.append(
        "staging.telco_performance",
        pa.table(
            {
                "date": pa.array([D(2026, 11, 1), D(2026, 10, 25)], pa.date32()),
                "country": ["HK", "HK"],
                "telco": ["CSL", "CSL"],
                "plan_code": ["CSL_M", "CSL_M"],
                "new_subscriptions": [1, 4],
                "cancelled_subscriptions": [0, 0],
                "active_subscriptions": [1, 9],
                "revenue": [58.0, 0.0],
                "currency": ["HKD", "HKD"],
            }
        ),
    )
    # web UV: daily counts for 2 and 3 Nov; the week of 2 Nov landed twice ("so far")
    week = [
        ("weekly", D(2026, 11, 2), D(2026, 11, 2), "HK", 100, D(2026, 11, 2)),
        ("weekly", D(2026, 11, 2), D(2026, 11, 3), "HK", 150, D(2026, 11, 3)),
    ]
    days = [
        ("daily", D(2026, 11, 2), D(2026, 11, 2), "HK", 100, D(2026, 11, 2)),
        ("daily", D(2026, 11, 3), D(2026, 11, 3), "HK", 90, D(2026, 11, 3)),
    ]
    for series, scale in (
        ("web-uv", 1.0),
        ("web-uv-vv", 0.5),
        ("yahoo-leadin-uv", 0.2),
        ("yahoo-leadin-uv-vv", 0.1),
    ):
        rows = [(*r[:4], r[4] * scale, r[5]) for r in week + days]
        table = f"staging.google_analytics_{series.replace('-', '_')}"
        warehouse.append(table, ga_rows(series, rows))
    context = Context(module_settings, warehouse, Lake(str(lake)))
    outcome = build(context, [m for m in discover_models() if m.table in REPORTS])
    assert all(state == "ok" for state in outcome.values()), outcome
    with warehouse.session():
        yield warehouse


def test_status_export_reconciles_with_the_recurring_total(reports: Warehouse) -> None:
    rows = reports.rows(
        "SELECT day, country, sum(tally_active), sum(export_active), sum(abs(difference)) "
        "FROM marts.reconciliation_status_export GROUP BY day, country ORDER BY day, country"
    )
    # exports on 26 Oct (B C D F1 G K) and 8 Nov (A C D F2 G H I K); SG's J expired on 8 Nov
    assert [tuple(int(v) if not isinstance(v, (str, dt.date)) else v for v in r) for r in rows] == [
        (D(2026, 10, 26), "HK", 6, 6, 0),
        (D(2026, 11, 8), "HK", 8, 8, 0),
    ]


def test_content_window_counts_the_week_before_and_after(reports: Warehouse) -> None:
    row = reports.rows(
        "SELECT subscribers_before, subscribers_after, uplift, days_before, days_after "
        "FROM marts.content_window WHERE episode_id = 701"
    )[0]
    # before: 26 Oct .. 1 Nov = 5+1+1+1+0+0+1 = 9; after: 2 .. 8 Nov = 1+0+0+0+1+0+0 = 2
    assert tuple(int(v) for v in row) == (9, 2, -7, 7, 7)
    correlation = reports.rows(
        "SELECT days, episodes_released FROM marts.content_correlation WHERE country = 'HK'"
    )[0]
    assert tuple(int(v) for v in correlation) == (14, 1)


def test_content_window_of_three_days(
    reports: Warehouse, module_settings: Settings, tmp_path: Path
) -> None:
    # marts.content_window_days = 3: before 30 Oct .. 1 Nov = 0 + 0 + 1 = 1;
    # after 2 .. 4 Nov = 1 + 0 + 0 = 1; uplift 0, three days each side
    settings = module_settings.model_copy(deep=True)
    settings.marts.content_window_days = 3
    window = [m for m in discover_models() if m.table == "marts.content_window"]
    try:
        build(Context(settings, reports, Lake(str(tmp_path / "lake"))), window)
        row = reports.rows(
            "SELECT subscribers_before, subscribers_after, uplift, days_before, days_after "
            "FROM marts.content_window WHERE episode_id = 701"
        )[0]
        assert tuple(int(v) for v in row) == (1, 1, 0, 3, 3)
    finally:  # the module's other tests read the default window
        build(Context(module_settings, reports, Lake(str(tmp_path / "lake"))), window)


def test_telco_sheet_beside_tallys_numbers(reports: Warehouse) -> None:
    rows = reports.rows(
        "SELECT day, sheet_new, tally_new, sheet_active, tally_active, sheet_revenue, "
        "tally_revenue FROM marts.telco_performance ORDER BY day"
    )
    # only 1 Nov: 25 Oct is before the first loaded day
    assert [(r[0], *(float(v) for v in r[1:])) for r in rows] == [
        (D(2026, 11, 1), 1.0, 1.0, 1.0, 1.0, 58.0, 58.0)
    ]


def test_yellow_report_takes_period_uniques_from_the_source(reports: Warehouse) -> None:
    weekly = reports.rows(
        "SELECT web_uv, web_uv_with_vv, yahoo_leadin_uv, yahoo_leadin_uv_with_vv, complete "
        "FROM marts.yellow_report WHERE resolution_type = 'weekly' AND start_date = ?",
        [D(2026, 11, 2)],
    )
    # the week so far landed last (150 users by 3 Nov), not 100 + 90 summed from the days
    assert weekly == [(150.0, 75.0, 30.0, 15.0, False)]
    daily = reports.rows(
        "SELECT start_date, web_uv, complete FROM marts.yellow_report "
        "WHERE resolution_type = 'daily' ORDER BY start_date"
    )
    assert daily == [(D(2026, 11, 2), 100.0, True), (D(2026, 11, 3), 90.0, True)]
