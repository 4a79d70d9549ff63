"""The subscriber marts against a fixture worked out by hand, on DuckDB and PostgreSQL.

The fixture (tests/fixtures/marts/transactions.csv and status.csv) holds eleven
subscriptions between Monday 26 October and Sunday 8 November 2026 (two ISO weeks, across
the October/November boundary). Loaded days: 26 Oct (first) .. 8 Nov (newest).
All HK times are +08:00; "[a, b)" is an access period from day a to the day before b.

    A  UA  iOS PREMIUM_M  trial [27 Oct, 3 Nov), then paid [3 Nov, 3 Dec)  (trial -> paid)
    B  UB  iOS PREMIUM_M  paid [26 Oct, 5 Nov), auto-renew off 30 Oct  (cancel, then expire)
    C  UC  iOS PREMIUM_M  paid [26 Oct, 31 Oct); renewal fails, grace from 31 Oct; the store
                          recovers it on 2 Nov: paid [31 Oct, 30 Nov)  (grace period)
    D  UD  Android        paid [26 Oct, 30 Oct); billing retry 30 Oct .. 1 Nov; recovered,
                          paid [2 Nov, 2 Dec)  (billing retry)
    E  UE  iOS PREMIUM_M  paid [28 Oct, 28 Nov), refunded 4 Nov: access ends 4 Nov  (refund)
    F  UF  iOS PREMIUM_M  SF1 paid [26 Oct, 28 Oct); SF2 paid [6 Nov, 6 Dec)  (reactivation)
    G  UG  iOS            PREMIUM_M [26 Oct, 2 Nov), renews as PREMIUM_HD_M [2 Nov, 2 Dec)
                          (plan change)
    H  UH  Redemption     [29 Oct, 28 Nov), only in the status export (not billed)
    I  UI  Telco CSL_M    bought 31 Oct 16:30 UTC = 1 Nov 00:30 in Hong Kong: a November
                          subscriber, [1 Nov, 1 Dec)  (the country's time zone decides)
    J  UJ  SG Android     trial [1 Nov, 8 Nov), auto-renew off 3 Nov, never paid
    K  UK  iOS PREMIUM_M  paid [15 Oct, 15 Nov), bought before the first loaded day: known
                          only from the status export

HK active at the end of each day (who):
    26 Oct 6  B C D F1 G K            2 Nov 9  A(trial) B C D E G(HD) H I K
    27 Oct 7  + A(trial)              3 Nov 9  A paid, trial over
    28 Oct 7  + E, - F1               4 Nov 8  - E (refund)
    29 Oct 8  + H                     5 Nov 7  - B (expired)
    30 Oct 7  - D (billing retry)     6 Nov 8  + F2
    31 Oct 7  C now in grace          7 Nov 8
     1 Nov 8  + I                     8 Nov 8
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator

import pyarrow as pa
import pytest

from tally.config import Settings, load_settings
from tally.warehouse import Warehouse

from .conftest import FIXTURES, STATUS_TABLE, TRANSACTIONS_TABLE, build_marts, load_fixture_csv

D = dt.date


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The figures below count trials in Active subscriber: the setting
    marts.trials_in_active on (its default, trials apart as Active trial, is checked in
    test_real_exports.py)."""
    folder = tmp_path_factory.mktemp("settings")
    environ = {"TALLY_DATA_DIR": str(folder / "data"), "TALLY_MARTS__TRIALS_IN_ACTIVE": "true"}
    return load_settings(environ=environ)


@pytest.fixture(scope="module")
def marts(
    module_warehouse: Warehouse, module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """The fixture loaded and built once per backend; the tests only read."""
    warehouse = module_warehouse
    load_fixture_csv(warehouse, FIXTURES / "transactions.csv", TRANSACTIONS_TABLE)
    load_fixture_csv(warehouse, FIXTURES / "status.csv", STATUS_TABLE)
    load_plan_map(warehouse)
    build_marts(warehouse, module_settings, tmp_path_factory.mktemp("lake"))
    with warehouse.session():  # one connection for all the reads (DuckDB opens per call)
        yield warehouse


def load_plan_map(warehouse: Warehouse) -> None:
    """Two snapshots of the IAP plan map (tests/fixtures/marts/iap_plan_map.csv): on 26 Oct
    iOS PREMIUM_M was called "Premium"; the 1 Nov sheet renames it "Premium Monthly", adds
    the HD, Android and Redemption plans, and does not list the telco's CSL_M."""
    path = FIXTURES / "iap_plan_map.csv"
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns = {name: [r[name] or None for r in rows] for name in rows[0] if name != "apple_id"}
    table = pa.table(
        {
            **{name: pa.array(values, pa.string()) for name, values in columns.items()},
            "apple_id": pa.array([int(r["apple_id"]) if r["apple_id"] else None for r in rows]),
        }
    ).set_column(
        list(columns).index("_partition_date"),
        "_partition_date",
        pa.array([dt.date.fromisoformat(r["_partition_date"]) for r in rows], pa.date32()),
    )
    warehouse.append("staging.google_drive_iap_plan_map", table)


def fact(
    warehouse: Warehouse,
    type_: str,
    resolution: str,
    start: dt.date,
    country: str = "HK",
    **meta: str,
) -> float:
    """Sum of report_fact values for one metric, resolution, period and country (+ filters)."""
    where = ["type = ?", "resolution_type = ?", "start_date = ?", "country = ?"]
    params: list[object] = [type_, resolution, start, country]
    for column, value in meta.items():
        where.append(f"{column} = ?")
        params.append(value)
    found = warehouse.rows(
        f"SELECT sum(value) FROM marts.report_fact WHERE {' AND '.join(where)}", params
    )
    return float(found[0][0] or 0)


def daily_series(warehouse: Warehouse, type_: str, country: str = "HK", **meta: str) -> list[float]:
    days = [D(2026, 10, 26) + dt.timedelta(days=n) for n in range(14)]
    return [fact(warehouse, type_, "daily", day, country, **meta) for day in days]


def test_active_subscribers_every_day(marts: Warehouse) -> None:
    # the table in the module docstring, day by day from 26 Oct to 8 Nov
    assert daily_series(marts, "Active subscriber") == [6, 7, 7, 8, 7, 7, 8, 9, 9, 8, 7, 8, 8, 8]
    # SG: J's trial holds access 1 Nov .. 7 Nov (7 days), gone at the end of 8 Nov
    assert daily_series(marts, "Active subscriber", "SG") == [0] * 6 + [1] * 7 + [0]


def test_active_split_by_payment_status_plan_and_platform(marts: Warehouse) -> None:
    # Free trial: only A, 27 Oct .. 2 Nov (its trial ends on 3 Nov when it is paid)
    assert daily_series(marts, "Active subscriber", meta_4="Free trial") == (
        [0] + [1] * 7 + [0] * 6
    )
    # Grace period: C on 31 Oct and 1 Nov (failed renewal, paid by the store on 2 Nov)
    assert daily_series(marts, "Active subscriber", meta_4="Grace period") == (
        [0] * 5 + [1, 1] + [0] * 7
    )
    # Android (D): active until 29 Oct, billing retry 30 Oct .. 1 Nov is NOT active, back 2 Nov
    assert daily_series(marts, "Active subscriber", platform="Android IAP") == (
        [1] * 4 + [0] * 3 + [1] * 7
    )
    # plan change: G leaves PREMIUM_M and is counted on PREMIUM_HD_M from 2 Nov
    assert daily_series(marts, "Active subscriber", meta_1="PREMIUM_HD_M") == [0] * 7 + [1] * 7
    # Redemption (H, status export only) from 29 Oct; Telco (I) from 1 Nov, not 31 Oct
    assert daily_series(marts, "Active subscriber", platform="Redemption") == [0] * 3 + [1] * 11
    assert daily_series(marts, "Active subscriber", platform="Telco") == [0] * 6 + [1] * 8
    # the Redemption row carries the channel name and sector of the seed's layout
    assert (
        fact(
            marts,
            "Active subscriber",
            "daily",
            D(2026, 11, 8),
            platform="Redemption",
            meta_1="SAMSUNG_TAB_PROMO",
            meta_2="Redemption Campaign",
            meta_3="Partner",
            meta_4="Paying",
        )
        == 1
    )


def test_daily_flows(marts: Warehouse) -> None:
    # New: 26 Oct B C D F1 G (5; K started 15 Oct, before the first loaded day); 27 Oct A
    # (a trial); 28 Oct E; 29 Oct H; 1 Nov I (Hong Kong's 1 Nov, bought 31 Oct UTC)
    assert daily_series(marts, "New subscriber") == [5, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert fact(marts, "New subscriber", "daily", D(2026, 10, 27), meta_4="Free trial") == 1
    assert fact(marts, "New subscriber", "daily", D(2026, 10, 26), meta_4="Paying") == 5
    # Reactivation: D back from billing retry on 2 Nov; F (same user, new subscription) 6 Nov
    assert daily_series(marts, "Reactivation") == [0] * 7 + [1, 0, 0, 0, 1, 0, 0]
    # Churn: F1 expires 28 Oct; D enters billing retry 30 Oct; E refunded 4 Nov; B expires
    # 5 Nov (auto-renew went off on 30 Oct: that day is not churn). C's grace is not churn.
    assert daily_series(marts, "Churn") == [0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0]
    # Renewal: C (paid 2 Nov after grace, counted the day it was paid) and G (on HD) on 2 Nov;
    # A's first payment is a trial conversion, D's a reactivation, not renewals
    assert daily_series(marts, "Renewal") == [0] * 7 + [2] + [0] * 6
    assert fact(marts, "Renewal", "daily", D(2026, 11, 2), meta_1="PREMIUM_HD_M") == 1
    assert daily_series(marts, "Plan change") == [0] * 7 + [1] + [0] * 6
    assert daily_series(marts, "Trial conversion") == [0] * 8 + [1] + [0] * 5
    assert daily_series(marts, "Free trial") == [0, 1] + [0] * 12
    assert daily_series(marts, "Refund") == [0] * 9 + [1] + [0] * 4
    # SG: J's trial starts 1 Nov (new, free trial) and ends unpaid 8 Nov (churn)
    assert daily_series(marts, "New subscriber", "SG") == [0] * 6 + [1] + [0] * 7
    assert daily_series(marts, "Churn", "SG", meta_4="Free trial") == [0] * 13 + [1]


def test_recurring_identity_holds_each_day(marts: Warehouse) -> None:
    # active(d) = active(d-1) + new(d) + reactivation(d) - churn(d) at the country level
    active = daily_series(marts, "Active subscriber")
    new = daily_series(marts, "New subscriber")
    back = daily_series(marts, "Reactivation")
    churn = daily_series(marts, "Churn")
    for day in range(1, 14):
        assert active[day] == active[day - 1] + new[day] + back[day] - churn[day], day


def test_weekly_metrics(marts: Warehouse) -> None:
    week1, week2 = D(2026, 10, 26), D(2026, 11, 2)
    # stocks: the last day's count (1 Nov: 8; 8 Nov: 8) and the mean of the daily counts
    assert fact(marts, "Active subscriber", "weekly", week1) == 8
    assert fact(marts, "Active subscriber", "weekly", week2) == 8
    assert fact(marts, "Active subscriber (average)", "weekly", week1) == pytest.approx(50 / 7)
    assert fact(marts, "Active subscriber (average)", "weekly", week2) == pytest.approx(57 / 7)
    # flows: sums of the daily flows of each week
    assert fact(marts, "New subscriber", "weekly", week1) == 9  # 5 + 1 + 1 + 1 + 1
    assert fact(marts, "New subscriber", "weekly", week2) == 0
    assert fact(marts, "Reactivation", "weekly", week2) == 2
    assert fact(marts, "Churn", "weekly", week1) == 2  # F1, D
    assert fact(marts, "Churn", "weekly", week2) == 2  # E, B
    assert fact(marts, "Renewal", "weekly", week2) == 2
    assert fact(marts, "Trial conversion", "weekly", week2) == 1
    assert fact(marts, "Free trial", "weekly", week1) == 1
    assert fact(marts, "Refund", "weekly", week2) == 1
    # SG: J active 1 Nov (the only day of week 1), 2..7 Nov of week 2; 0 at the end of 8 Nov
    assert fact(marts, "Active subscriber", "weekly", week1, "SG") == 1
    assert fact(marts, "Active subscriber", "weekly", week2, "SG") == 0
    assert fact(marts, "Active subscriber (average)", "weekly", week2, "SG") == (
        pytest.approx(6 / 7)
    )


def test_monthly_metrics(marts: Warehouse) -> None:
    october, november = D(2026, 10, 1), D(2026, 11, 1)
    # October is loaded from 26 Oct: end 31 Oct = 7; mean of 6, 7, 7, 8, 7, 7 = 42 / 6
    assert fact(marts, "Active subscriber", "monthly", october) == 7
    assert fact(marts, "Active subscriber (average)", "monthly", october) == pytest.approx(7.0)
    # November up to the newest day, 8 Nov: 8; mean of 8, 9, 9, 8, 7, 8, 8, 8 = 65 / 8
    assert fact(marts, "Active subscriber", "monthly", november) == 8
    assert fact(marts, "Active subscriber (average)", "monthly", november) == (
        pytest.approx(65 / 8)
    )
    assert fact(marts, "New subscriber", "monthly", october) == 8  # I belongs to November
    assert fact(marts, "New subscriber", "monthly", november) == 1
    assert fact(marts, "New subscriber", "monthly", november, platform="Telco") == 1
    assert fact(marts, "Churn", "monthly", october) == 2
    assert fact(marts, "Churn", "monthly", november) == 2
    assert fact(marts, "Reactivation", "monthly", november) == 2
    assert fact(marts, "Renewal", "monthly", november) == 2
    assert fact(marts, "Trial conversion", "monthly", november) == 1
    assert fact(marts, "Refund", "monthly", november) == 1
    assert fact(marts, "New subscriber", "monthly", november, "SG") == 1
    assert fact(marts, "Churn", "monthly", november, "SG") == 1


def test_revenue(marts: Warehouse) -> None:
    # 26 Oct: B C F1 G (iOS) 4 x 68 + D (Android) 68 = 340; 28 Oct E 68; 1 Nov I 58 (Telco)
    assert fact(marts, "Revenue", "daily", D(2026, 10, 26)) == 340
    assert fact(marts, "Revenue", "daily", D(2026, 11, 1), platform="Telco") == 58
    assert fact(marts, "Revenue", "daily", D(2026, 10, 31)) == 0  # I is not October's
    # 2 Nov: C 68 + G 88 (HD) + D 68 = 224; 3 Nov A 68; 4 Nov E refunded -68; 6 Nov F2 68
    assert fact(marts, "Revenue", "daily", D(2026, 11, 2)) == 224
    assert fact(marts, "Revenue", "daily", D(2026, 11, 4)) == -68
    assert fact(marts, "Revenue", "weekly", D(2026, 10, 26)) == 466  # 340 + 68 + 58
    assert fact(marts, "Revenue", "weekly", D(2026, 11, 2)) == 292  # 224 + 68 - 68 + 68
    assert fact(marts, "Revenue", "monthly", D(2026, 10, 1)) == 408  # 340 + 68
    assert fact(marts, "Revenue", "monthly", D(2026, 11, 1), meta_5="HKD") == 350
    # proceeds: stores pass on 70 %, the telco 85 %: 2 Nov (68 + 88 + 68) x 0.7 = 156.80
    assert fact(marts, "Proceeds", "daily", D(2026, 11, 2)) == pytest.approx(156.8)
    assert fact(marts, "Proceeds", "daily", D(2026, 11, 1)) == pytest.approx(49.3)


def test_rates_in_the_period_marts(marts: Warehouse) -> None:
    # churn rate = churn / active at the end of the day before the period (HK, all rows)
    # week 2: 2 churned / 8 active at the end of 1 Nov; November: 2 / 7 (end of 31 Oct)
    weekly = marts.rows(
        "SELECT sum(churn), sum(active_opening), sum(trial_conversions), sum(trials_ended) "
        "FROM marts.subscriber_weekly WHERE country = 'HK' AND period_start = ?",
        [D(2026, 11, 2)],
    )[0]
    assert [int(v) for v in weekly] == [2, 8, 1, 1]  # A converted; A's trial ended 3 Nov
    monthly = marts.rows(
        "SELECT sum(churn), sum(active_opening) FROM marts.subscriber_monthly "
        "WHERE country = 'HK' AND period_start = ?",
        [D(2026, 11, 1)],
    )[0]
    assert [int(v) for v in monthly] == [2, 7]
    # per row: A's conversion sits beside A's ended trial (iOS, PREMIUM_M, Free trial)
    rate = marts.rows(
        "SELECT trial_conversion_rate FROM marts.subscriber_weekly WHERE country = 'HK' "
        "AND period_start = ? AND payment_status = 'Free trial' AND platform = 'iOS IAP'",
        [D(2026, 11, 2)],
    )
    assert rate == [(1.0,)]


def test_rates_at_daily_resolution(marts: Warehouse) -> None:
    # churn rate = churn / active at the end of the day before (the daily period's start).
    # 4 Nov, HK: E's refund is the day's one churn; 9 were active at the end of 3 Nov
    # (A B C D E G H I K), so 1/9 for the country
    day = marts.rows(
        "SELECT sum(churn), sum(active_opening) FROM marts.subscriber_daily "
        "WHERE country = 'HK' AND day = ?",
        [D(2026, 11, 4)],
    )[0]
    assert [int(v) for v in day] == [1, 9]
    # per row: E left the iOS PREMIUM_M Paying row, which held A (paid since 3 Nov), B, C
    # (paid since 2 Nov), E and K at the end of 3 Nov: 1/5
    row = (
        "SELECT {} FROM marts.subscriber_daily WHERE country = ? AND day = ? "
        "AND platform = ? AND plan_code = 'PREMIUM_M' AND payment_status = ?"
    )
    ios = [D(2026, 11, 4), "iOS IAP", "Paying"]
    assert marts.rows(row.format("churn_rate"), ["HK", *ios]) == [(0.2,)]
    # trial conversion rate = conversions / trials ending that day: A's trial ended on 3 Nov
    # and A paid that day (1/1); J's SG trial ended on 8 Nov unpaid (0/1); no trial ended on
    # 2 Nov, so no rate (NULL), not 0
    trial = row.format("trial_conversion_rate")
    assert marts.rows(trial, ["HK", D(2026, 11, 3), "iOS IAP", "Free trial"]) == [(1.0,)]
    assert marts.rows(trial, ["SG", D(2026, 11, 8), "Android IAP", "Free trial"]) == [(0.0,)]
    nothing = marts.rows(
        "SELECT count(*) FROM marts.subscriber_daily WHERE day = ? "
        "AND trial_conversion_rate IS NOT NULL",
        [D(2026, 11, 2)],
    )
    assert nothing == [(0,)]


def test_report_fact_columns(marts: Warehouse) -> None:
    assert marts.columns("marts.report_fact") == [
        "type",
        "resolution_type",
        "country",
        "platform",
        "start_date",
        *(f"meta_{n}" for n in range(1, 9)),
        "value",
    ]
    resolutions = {
        r[0] for r in marts.rows("SELECT DISTINCT resolution_type FROM marts.report_fact")
    }
    assert resolutions == {"daily", "weekly", "monthly"}
    zero = marts.rows("SELECT count(*) FROM marts.report_fact WHERE value = 0")[0][0]
    assert zero == 0


def test_plan_names_from_the_newest_plan_map(marts: Warehouse) -> None:
    # meta_6 is the plan name the newest map (1 Nov) gives the row's platform and plan code.
    # HK active at the end of 2 Nov (9, see the top): A B C E K on iOS PREMIUM_M and D on
    # Android PREMIUM_M are all "Premium Monthly" (6); G on PREMIUM_HD_M "Premium HD
    # Monthly" (1); H "Samsung Galaxy Tablet Promotion" (1); I's CSL_M is not in the map (1)
    day = D(2026, 11, 2)
    assert fact(marts, "Active subscriber", "daily", day, meta_6="Premium Monthly") == 6
    assert fact(marts, "Active subscriber", "daily", day, meta_6="Premium HD Monthly") == 1
    redemption = "Samsung Galaxy Tablet Promotion"
    assert fact(marts, "Active subscriber", "daily", day, meta_6=redemption) == 1
    assert fact(marts, "Active subscriber", "daily", day, meta_6="Premium") == 0  # old name
    unnamed = marts.rows(
        "SELECT DISTINCT meta_1 FROM marts.report_fact WHERE meta_6 IS NULL AND country = 'HK'"
    )
    assert unnamed == [("CSL_M",)]
    # money rows carry the name too: 2 Nov revenue 68 (C) + 68 (D) on Premium Monthly
    assert fact(marts, "Revenue", "daily", day, meta_6="Premium Monthly") == 136
