"""The subscriber marts on what real exports contain, worked out by hand, on DuckDB and
PostgreSQL: duplicated and revised billing events, a mid-period upgrade, a partial and a
full refund, a backdated purchase, a trial, and a second subscription while the first is
active. Loaded through the real pipeline (lake, load, ledger); built in full after the
first two days, then day by day with the daily build, as the scheduler runs it.

Fixture: tests/fixtures/marts/real_exports_transactions.csv (one file a day, rows in file
order) and real_exports_status.csv (the status export of 26 Oct, 1, 2 and 8 Nov). Hong Kong,
iOS, Monday 26 Oct .. Sunday 8 Nov 2026 (two ISO weeks across the month boundary).
PREMIUM_M costs 68 HKD (proceeds 47.60), PREMIUM_HD_M 88 HKD (61.60). "[a, b)": access
from day a to the day before b.

    U  SU   PREMIUM_M [26 Oct, 26 Nov); upgrades on 2 Nov (a purchase on the same
            subscription): PREMIUM_HD_M [2 Nov, 2 Dec). The old period closes on 2 Nov:
            one subscriber all along, a Plan change on 2 Nov, no Renewal, no Churn.
    C  SC1  PREMIUM_M [26 Oct, 26 Nov); the same user buys SC2 PREMIUM_HD_M on 3 Nov
            while SC1 is active: by default a New subscriber (a new subscription), with
            marts.concurrent_subscription = 'reactivation' a Reactivation.
    P  SP   purchase 27 Oct sent three times: twice in 27 Oct's file, again in 28 Oct's.
            One copy counts: 68 HKD on 27 Oct, not 204; the ledger counts two duplicates.
    R  SR   purchase 28 Oct at 68 HKD, revised in 30 Oct's file to 58 HKD (proceeds
            40.60): the revision replaces the first copy on 28 Oct, the original day.
    E  SE   purchase 28 Oct; full refund (-68) on 5 Nov: access ends 5 Nov (Churn).
    Q  SQ   purchase 29 Oct; partial refund (-20, proceeds -14) on 4 Nov: money adjusted,
            access kept (the status export of 8 Nov still lists it active).
    B  SB   purchase 30 Oct, delivered late in 3 Nov's file (the status export of 1 Nov
            already lists it): New on 30 Oct, and its 68 HKD on 30 Oct too.
    T  ST   trial [31 Oct, 7 Nov), paid 7 Nov: an Active trial until 6 Nov, then an
            Active subscriber; a Trial conversion on 7 Nov.

Active subscriber at the end of each day (trials apart, the default):
    26 Oct 2  U C1          30 Oct 7  + B             3 Nov 8  + C2
    27 Oct 3  + P           31 Oct 7  (T: trial)      4 Nov 8  (Q keeps access)
    28 Oct 5  + R E          1 Nov 7                  5 Nov 7  - E (refund)
    29 Oct 6  + Q            2 Nov 7  (U now on HD)   6 Nov 7
                                                      7 Nov 8  + T (paid)
                                                      8 Nov 8
Active trial: 1 from 31 Oct to 6 Nov (T), else 0.

Revenue (HKD) per day: 26 Oct 136 (U, C1); 27 Oct 68 (P once); 28 Oct 126 (R 58 revised +
E 68); 29 Oct 68 (Q); 30 Oct 68 (B); 2 Nov 88 (U's upgrade); 3 Nov 88 (C2); 4 Nov -20 (Q's
partial refund); 5 Nov -68 (E's refund); 7 Nov 68 (T). Proceeds are 70 % of each
(R's revision: 40.60).
Weeks: 26 Oct .. 1 Nov and 2 .. 8 Nov; months: October (26 .. 31 loaded) and November
(1 .. 8 loaded).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tally.config import Settings, load_settings
from tally.lake import Lake
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.pipeline.incremental import build_day
from tally.pipeline.ingest import land
from tally.pipeline.load import load
from tally.server.ui.elt import overview_panels
from tally.sources.viu_premium import SubscriberStatus, Transactions, transaction_file
from tally.warehouse import Warehouse

from .conftest import FIXTURES, SUBSCRIBER_MODELS

D = dt.date
DAYS = [D(2026, 10, 26) + dt.timedelta(days=n) for n in range(14)]
WEEKS = (D(2026, 10, 26), D(2026, 11, 2))
MONTHS = (D(2026, 10, 1), D(2026, 11, 1))
MODELS = [*SUBSCRIBER_MODELS, "marts.reconciliation_status_export"]


def day_files(name: str) -> dict[D, bytes]:
    """The fixture's rows grouped into one export file per partition day, in file order."""
    with (FIXTURES / name).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    files: dict[D, io.StringIO] = {}
    header = [c for c in rows[0] if c != "_partition_date"]
    for row in rows:
        day = D.fromisoformat(row.pop("_partition_date"))
        if day not in files:
            files[day] = io.StringIO()
            files[day].write(",".join(header) + "\n")
        files[day].write(",".join(row[c] for c in header) + "\n")
    return {day: text.getvalue().encode() for day, text in files.items()}


def land_and_load(context: Context, day: D) -> None:
    """The day's files through the real pipeline: landed in the lake, then loaded."""
    exports = (
        (
            Transactions(),
            day_files("real_exports_transactions.csv"),
            transaction_file(day, "ios_iap"),
        ),
        (
            SubscriberStatus(),
            day_files("real_exports_status.csv"),
            f"viu-premium-{day:%Y%m%d}.csv.gz",
        ),
    )
    for dataset, files, name in exports:
        if day in files:
            land(context, dataset, day, {name: files[day]})
            load(context, dataset, day)


def models() -> list:
    return [m for m in discover_models() if m.table in MODELS]


@pytest.fixture(scope="module")
def context(
    module_warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Context]:
    folder = tmp_path_factory.mktemp("real-exports")
    settings = load_settings(environ={"TALLY_DATA_DIR": str(folder / "data")})
    context = Context(settings, module_warehouse, Lake(str(folder / "lake")))
    with module_warehouse.session():
        for day in DAYS[:2]:
            land_and_load(context, day)
        build(context, models())
        for day in DAYS[2:]:  # the daily build, day by day
            land_and_load(context, day)
            outcome = build_day(context, day, chosen=models())
            assert outcome["marts.subscription_periods"].startswith("incremental"), outcome
        yield context


def fact(context: Context, type_: str, resolution: str, start: D, **meta: str) -> float:
    """Sum of report_fact values of one metric, resolution and period in HK (+ filters)."""
    where = ["type = ?", "resolution_type = ?", "start_date = ?", "country = 'HK'"]
    params: list[object] = [type_, resolution, start]
    for column, value in meta.items():
        where.append(f"{column} = ?")
        params.append(value)
    found = context.warehouse.rows(
        f"SELECT sum(value) FROM marts.report_fact WHERE {' AND '.join(where)}", params
    )
    return round(float(found[0][0] or 0), 2)


def daily(context: Context, type_: str, **meta: str) -> list[float]:
    return [fact(context, type_, "daily", day, **meta) for day in DAYS]


def test_active_subscribers_and_trials_every_day(context: Context) -> None:
    # the table in the docstring: U's upgrade never counts twice, Q's partial refund keeps
    # access, E's full refund ends it on 5 Nov, T is a trial until it pays on 7 Nov
    assert daily(context, "Active subscriber") == [2, 3, 5, 6, 7, 7, 7, 7, 8, 8, 7, 7, 8, 8]
    assert daily(context, "Active trial") == [0] * 5 + [1] * 7 + [0] * 2
    # U: PREMIUM_M until 1 Nov, PREMIUM_HD_M from 2 Nov (with C's SC2 from 3 Nov)
    assert daily(context, "Active subscriber", meta_1="PREMIUM_HD_M") == [0] * 7 + [1] + [2] * 6
    # weekly and monthly: the stock on the last loaded day of the period
    assert [fact(context, "Active subscriber", "weekly", w) for w in WEEKS] == [7, 8]
    assert [fact(context, "Active subscriber", "monthly", m) for m in MONTHS] == [7, 8]
    assert [fact(context, "Active trial", "weekly", w) for w in WEEKS] == [1, 0]
    assert [fact(context, "Active trial", "monthly", m) for m in MONTHS] == [1, 0]
    # averages over the loaded days: (2+3+5+6+7+7+7)/7, (7+8+8+7+7+8+8)/7,
    # October (2+3+5+6+7+7)/6, November (7+7+8+8+7+7+8+8)/8
    averages = [fact(context, "Active subscriber (average)", "weekly", w) for w in WEEKS]
    assert averages == [round(37 / 7, 2), round(53 / 7, 2)]
    averages = [fact(context, "Active subscriber (average)", "monthly", m) for m in MONTHS]
    assert averages == [5.0, 7.5]


def test_flows_every_day_week_and_month(context: Context) -> None:
    # New: U C1 (26 Oct), P, R E, Q, B (30 Oct: the backdated purchase, on its own day),
    # T (a trial), and C's second subscription on 3 Nov (a new subscription by default)
    new = [2, 1, 2, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    assert daily(context, "New subscriber") == new
    assert [fact(context, "New subscriber", "weekly", w) for w in WEEKS] == [8, 1]
    assert [fact(context, "New subscriber", "monthly", m) for m in MONTHS] == [8, 1]
    assert daily(context, "Reactivation") == [0] * 14
    # U's upgrade: one Plan change on 2 Nov, on the new plan; not a Renewal, not a Churn
    assert daily(context, "Plan change") == [0] * 7 + [1] + [0] * 6
    assert fact(context, "Plan change", "daily", D(2026, 11, 2), meta_1="PREMIUM_HD_M") == 1
    assert [fact(context, "Plan change", "weekly", w) for w in WEEKS] == [0, 1]
    assert [fact(context, "Plan change", "monthly", m) for m in MONTHS] == [0, 1]
    assert daily(context, "Renewal") == [0] * 14
    # Churn: only E, on its full refund's day (5 Nov)
    assert daily(context, "Churn") == [0] * 10 + [1] + [0] * 3
    assert [fact(context, "Churn", "weekly", w) for w in WEEKS] == [0, 1]
    assert [fact(context, "Churn", "monthly", m) for m in MONTHS] == [0, 1]
    # T: a Free trial on 31 Oct, a Trial conversion on 7 Nov
    assert daily(context, "Free trial") == [0] * 5 + [1] + [0] * 8
    assert daily(context, "Trial conversion") == [0] * 12 + [1, 0]
    assert [fact(context, "Free trial", "monthly", m) for m in MONTHS] == [1, 0]
    assert [fact(context, "Trial conversion", "weekly", w) for w in WEEKS] == [0, 1]


def test_refunds_say_whether_full_or_partial(context: Context) -> None:
    # Q's partial refund on 4 Nov (20 of 68 HKD), E's full refund on 5 Nov (68)
    assert daily(context, "Refund", meta_7="Partial") == [0] * 9 + [1] + [0] * 4
    assert daily(context, "Refund", meta_7="Full") == [0] * 10 + [1] + [0] * 3
    assert daily(context, "Refund amount", meta_7="Partial") == [0] * 9 + [20] + [0] * 4
    assert daily(context, "Refund amount", meta_7="Full") == [0] * 10 + [68] + [0] * 3
    for type_, scope, value in (("Refund", "Full", 1), ("Refund amount", "Partial", 20)):
        assert [fact(context, type_, "weekly", w, meta_7=scope) for w in WEEKS] == [0, value]
        assert [fact(context, type_, "monthly", m, meta_7=scope) for m in MONTHS] == [0, value]
    assert [fact(context, "Refund", "weekly", w) for w in WEEKS] == [0, 2]


def test_money_counts_each_event_once(context: Context) -> None:
    revenue = [136, 68, 126, 68, 68, 0, 0, 88, 88, -20, -68, 0, 68, 0]
    assert daily(context, "Revenue") == revenue
    proceeds = [95.2, 47.6, 88.2, 47.6, 47.6, 0, 0, 61.6, 61.6, -14, -47.6, 0, 47.6, 0]
    assert daily(context, "Proceeds") == proceeds
    # weeks: 136+68+126+68+68 = 466 and 88+88-20-68+68 = 156; October holds all of the
    # first week's money (1 Nov had none), November all of the second's
    assert [fact(context, "Revenue", "weekly", w) for w in WEEKS] == [466, 156]
    assert [fact(context, "Revenue", "monthly", m) for m in MONTHS] == [466, 156]
    assert [fact(context, "Proceeds", "weekly", w) for w in WEEKS] == [326.2, 109.2]
    assert [fact(context, "Proceeds", "monthly", m) for m in MONTHS] == [326.2, 109.2]


def test_the_ledger_counts_the_duplicates_each_load_brought(context: Context) -> None:
    # 27 Oct: TP1's second line; 28 Oct: TP1 again; 30 Oct: TR1's revision
    found = context.warehouse.rows(
        "SELECT partition_date, rows_duplicate FROM tally_meta.runs "
        "WHERE job = 'load' AND dataset = 'transactions' AND rows_duplicate > 0 "
        "ORDER BY partition_date"
    )
    assert found == [(D(2026, 10, 27), 1), (D(2026, 10, 28), 1), (D(2026, 10, 30), 1)]
    # the ELT page's rows panel shows them (day, source, loaded, quarantined, duplicates)
    days = (dt.date.today() - DAYS[0]).days + 1
    panels = overview_panels(context.warehouse, days, source="viu-premium")
    shown = next(panel for panel in panels if panel.key == "rows")
    assert [(row[0], row[4]) for row in shown.rows if row[4]] == found
    # every copy is staged; one per transaction_id reaches the marts (16 rows, 13 ids)
    staged = "SELECT count(*) FROM staging.viu_premium_transactions"
    kept = "SELECT count(*) FROM staging.viu_premium_transactions_latest"
    assert context.warehouse.rows(staged)[0][0] == 16
    assert context.warehouse.rows(kept)[0][0] == 13


def test_the_status_export_reconciles_to_zero(context: Context) -> None:
    # 26 Oct, 1, 2 and 8 Nov: every (plan, payment status) agrees, the upgrade day included
    found = context.warehouse.rows(
        "SELECT day, plan_code, payment_status, tally_active, export_active, difference "
        "FROM marts.reconciliation_status_export ORDER BY 1, 2, 3"
    )
    days = [D(2026, 10, 26)] + [D(2026, 11, 1)] * 2 + [D(2026, 11, 2)] * 3 + [D(2026, 11, 8)] * 2
    assert [r[0] for r in found] == days
    assert all(r[5] == 0 for r in found), found
    assert (D(2026, 11, 2), "PREMIUM_HD_M", "Paying", 1, 1, 0) in found
    assert (D(2026, 11, 8), "PREMIUM_M", "Paying", 6, 6, 0) in found


def test_the_daily_build_gave_the_full_build(context: Context) -> None:
    def snapshot() -> dict[str, list[tuple]]:
        return {t: sorted(context.warehouse.rows(f"SELECT * FROM {t}"), key=repr) for t in MODELS}

    daily_build = snapshot()
    build(context, models())
    assert snapshot() == daily_build


def test_the_two_settings_change_what_they_say(context: Context, tmp_path: Path) -> None:
    # trials in Active subscriber, and a second concurrent subscription as a Reactivation
    environ = {
        "TALLY_DATA_DIR": str(tmp_path / "data"),
        "TALLY_MARTS__TRIALS_IN_ACTIVE": "true",
        "TALLY_MARTS__CONCURRENT_SUBSCRIPTION": "reactivation",
    }
    other = Context(load_settings(environ=environ), context.warehouse, context.lake)
    build(other, models())
    try:
        # T's trial counts from 31 Oct to 6 Nov; no Active trial type any more
        assert daily(other, "Active subscriber") == [2, 3, 5, 6, 7, 8, 8, 8, 9, 9, 8, 8, 8, 8]
        assert daily(other, "Active trial") == [0] * 14
        assert [fact(other, "Active subscriber", "monthly", m) for m in MONTHS] == [8, 8]
        # C's SC2 on 3 Nov: a Reactivation, no longer a New subscriber
        assert daily(other, "Reactivation") == [0] * 8 + [1] + [0] * 5
        assert [fact(other, "New subscriber", "weekly", w) for w in WEEKS] == [8, 0]
        assert [fact(other, "Reactivation", "monthly", m) for m in MONTHS] == [0, 1]
    finally:
        build(context, models())  # the defaults back for any later reader


def test_settings_have_the_documented_defaults() -> None:
    settings: Settings = load_settings(environ={})
    assert settings.marts.trials_in_active is False
    assert settings.marts.concurrent_subscription == "new"
