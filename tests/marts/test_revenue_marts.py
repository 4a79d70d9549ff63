"""Currencies and recurring revenue against a fixture worked out by hand, on every backend.

The fixture (tests/fixtures/analytics/) loads 1 Nov (first day) .. 30 Nov 2026 (newest).
Every time is 10:00 +08:00, which is the same day in Hong Kong and Singapore. The reporting
currency is USD (the default). The exchange-rate sheet (units per USD):

    HKD 8.00 from 20 Oct, 7.50 from 15 Nov        so 1 HKD = 0.125 USD, then 0.1333... USD
    SGD 1.25 from 20 Oct                          so 1 SGD = 0.8 USD
    EUR never quoted                              so EUR never converts

Subscriptions ([a, b) is access from day a to the day before b; MRR per subscription):

    A  UA HK iOS      trial [1 Nov, 8 Nov), paid PREMIUM_M [8 Nov, 8 Dec) 80 HKD:
                      monthly, MRR 80 HKD = 10 USD at 8 Nov's rate. New MRR on 8 Nov.
    B  UB HK iOS      trial [2 Nov, 9 Nov); weekly PREMIUM_W 24 HKD [9 Nov, 16 Nov):
                      MRR 24 * 52 / 12 = 104 HKD = 13 USD, New on 9 Nov; upgraded at once
                      on 15 Nov to PREMIUM_HD_W 36 HKD [15 Nov, 22 Nov): MRR 156 HKD.
                      Expansion +52 HKD, in USD 52 / 7.5 = 6.9333 -> 6.93; the 104 HKD kept
                      now at the new rate: Exchange rate 104 * (1/7.5 - 1/8) = 0.8667 ->
                      0.87 USD (13 + 6.9333 + 0.8667 = 20.80 = 156 / 7.5). Auto-renew off,
                      no renewal: Churn -156 HKD = -20.80 USD on 22 Nov.
    C  UC SG Android  yearly PREMIUM_Y 150 SGD [3 Nov 2026, 3 Nov 2027): 365 days is
                      round(365 / 30.4375) = 12 months, MRR 12.50 SGD = 10 USD, New on 3 Nov;
                      refunded in full on 10 Nov: access ends, Churn -12.50 SGD = -10 USD.
    D  UD HK Android  SD1 weekly PREMIUM_W 24 HKD [4 Nov, 11 Nov): MRR 104 HKD = 13 USD,
                      New on 4 Nov, Churn on 11 Nov; SD2 PREMIUM_M 80 HKD [20 Nov, 20 Dec):
                      the user's MRR had ended, so Reactivation +80 HKD = 80 / 7.5 = 10.67 USD.
    E  UE HK Web      WEB_M 10 EUR [5 Nov, 5 Dec): New +10 EUR; no EUR rate, so no USD
                      figure at all (never summed with the others).
    F  UF SG Android  PREMIUM_M [25 Oct, 25 Nov) known only from the status export: priced
                      at the plan's latest billed price in SG (G's 10 SGD for 30 days),
                      MRR 10 SGD = 8 USD at 25 Oct's rate; opening MRR on 1 Nov, Churn
                      -10 SGD = -8 USD on 25 Nov.
    G  UG SG Android  PREMIUM_M 10 SGD [6 Nov, 6 Dec): New +10 SGD = 8 USD on 6 Nov.

MRR at the end of the day, HKD: 4 Nov 104 (D), 8 Nov 184 (+A), 9 Nov 288 (+B), 11 Nov 184
(-D), 15 Nov 236 (B 104 -> 156), 20 Nov 316 (+SD2), 22 Nov 160 (-B), 30 Nov 160 (A + SD2;
in USD 10 + 10.6667 = 20.67). SGD: 1 Nov 10 (F), 3 Nov 22.5 (+C), 6 Nov 32.5 (+G),
10 Nov 20 (-C), 25 Nov 10 (-F), 30 Nov 10 (G; 8 USD).
November, HKD: New 104 + 80 + 104 = 288, Expansion 52, Churn -104 - 156 = -260,
Reactivation 80: 0 + 288 + 52 - 260 + 80 = 160, the stock on 30 Nov. In USD (HK): New
13 + 10 + 13 = 36, Expansion 6.93, Exchange rate 0.87, Churn -13 - 20.80 = -33.80,
Reactivation 10.67: 36 + 6.93 + 0.87 - 33.80 + 10.67 = 20.67.
"""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from tally.config import Settings
from tally.lake import Lake
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.sources import get_dataset
from tally.warehouse import Warehouse

from .conftest import STATUS_TABLE, TRANSACTIONS_TABLE, load_fixture_csv, load_rows

D = dt.date
FIXTURES = Path(__file__).parent.parent / "fixtures" / "analytics"
RATES_TABLE = "staging.google_drive_exchange_rates"
MODELS = (
    "staging.viu_premium_transactions_latest",
    "marts.subscription_bounds",
    "marts.subscription_periods",
    "marts.subscription_spans",
    "marts.subscriber_total",
    "marts.revenue_daily",
    "marts.revenue_converted",
    "marts.plan_list_prices",
    "marts.subscription_list_prices",
    "marts.dim_country_offset",
    "marts.subscription_mrr",
    "marts.dim_segment",
    "marts.mrr_movements",
    "marts.mrr_daily",
    "marts.subscription_fact",
)


def load_analytics_fixture(warehouse: Warehouse) -> None:
    """The fixture's two exports and its exchange-rate sheet (loaded on 30 Nov)."""
    load_fixture_csv(warehouse, FIXTURES / "transactions.csv", TRANSACTIONS_TABLE)
    load_fixture_csv(warehouse, FIXTURES / "status.csv", STATUS_TABLE)
    sheet = get_dataset("google-drive", "exchange-rates")
    data = gzip.compress((FIXTURES / "exchange_rates.csv").read_bytes())
    parsed = sheet.parse(data, "exchange-rates-2026-11-30.csv.gz")
    assert not parsed.bad_rows
    load_rows(warehouse, RATES_TABLE, parsed.table, [D(2026, 11, 30)] * parsed.table.num_rows)


def build_analytics(
    warehouse: Warehouse, settings: Settings, lake: Path, tables: tuple[str, ...] = MODELS
) -> None:
    """Build the marts named in ``tables`` (this module's by default) and check each is ok."""
    models = [m for m in discover_models() if m.table in tables]
    outcome = build(Context(settings, warehouse, Lake(str(lake))), models)
    assert all(status == "ok" for status in outcome.values()), outcome


@pytest.fixture(scope="module")
def marts(
    module_warehouse: Warehouse, module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    load_analytics_fixture(module_warehouse)
    build_analytics(module_warehouse, module_settings, tmp_path_factory.mktemp("lake"))
    with module_warehouse.session():
        yield module_warehouse


def fact(warehouse: Warehouse, type_: str, resolution: str, start: dt.date, **where: str) -> float:
    """Sum of subscription_fact values for one metric, resolution and period (+ filters)."""
    sql = ["type = ?", "resolution_type = ?", "start_date = ?"]
    params: list[object] = [type_, resolution, start]
    for column, value in where.items():
        sql.append(f"{column} IS NULL" if value is None else f"{column} = ?")
        params += [] if value is None else [value]
    found = warehouse.rows(
        f"SELECT sum(value) FROM marts.subscription_fact WHERE {' AND '.join(sql)}", params
    )
    return round(float(found[0][0] or 0), 2)


def own(currency: str) -> dict[str, str | None]:
    return {"meta_5": currency, "meta_8": None}


USD = {"meta_5": "USD", "meta_8": "Converted"}


def test_exchange_rates_as_factors_to_the_reporting_currency(marts: Warehouse) -> None:
    """HKD's factor is 1/8 until 15 Nov, then 1/7.5; the weekend keeps the last quote."""
    found = marts.rows(
        "SELECT currency, valid_from, valid_to, to_reporting FROM marts.dim_exchange_rate "
        "WHERE currency = 'HKD' ORDER BY valid_from"
    )
    assert [(r[1], r[2]) for r in found] == [
        (D(2026, 10, 20), D(2026, 11, 15)),
        (D(2026, 11, 15), D(9999, 12, 31)),
    ]
    assert [round(r[3], 6) for r in found] == [0.125, round(1 / 7.5, 6)]


def test_exchange_rates_by_day(marts: Warehouse) -> None:
    """The same factors one row per currency and day, from the day before the first quote
    (19 Oct: US dollars alone) to the last change (15 Nov): USD 19 Oct-15 Nov is 28 days at
    1, HKD 20 Oct-14 Nov 26 days at 1/8 and 15 Nov at 1/7.5, SGD 20 Oct-15 Nov 27 days at
    1/1.25 (the marts clamp a later day to 15 Nov, an earlier one to 19 Oct: the revenue
    tests below convert 36 HKD after 15 Nov at 7.5)."""
    found = marts.rows(
        "SELECT currency, count(*), min(day), max(day), min(to_reporting), max(to_reporting) "
        "FROM marts.dim_exchange_rate_day GROUP BY currency ORDER BY currency"
    )
    assert [(r[0], r[1], r[2], r[3]) for r in found] == [
        ("HKD", 27, D(2026, 10, 20), D(2026, 11, 15)),
        ("SGD", 27, D(2026, 10, 20), D(2026, 11, 15)),
        ("USD", 28, D(2026, 10, 19), D(2026, 11, 15)),
    ]
    assert [(round(r[4], 6), round(r[5], 6)) for r in found] == [
        (0.125, round(1 / 7.5, 6)),
        (0.8, 0.8),
        (1.0, 1.0),
    ]
    hkd = marts.rows(
        "SELECT day, to_reporting FROM marts.dim_exchange_rate_day "
        "WHERE currency = 'HKD' AND day IN (DATE '2026-11-14', DATE '2026-11-15')"
    )
    assert sorted((r[0], round(r[1], 6)) for r in hkd) == [
        (D(2026, 11, 14), 0.125),
        (D(2026, 11, 15), round(1 / 7.5, 6)),
    ]


def test_revenue_in_own_and_reporting_currency(marts: Warehouse) -> None:
    """B's 24 HKD on 9 Nov is 3 USD; its 36 HKD on 15 Nov at 7.5 is 4.80 USD; C's 150 SGD
    is 120 USD and its refund -120; E's 10 EUR has no USD figure."""
    rows = {
        (r[0], r[1], r[2]): (r[3], r[4])
        for r in marts.rows(
            "SELECT day, country, currency, customer_price, customer_price_reporting "
            "FROM marts.revenue_converted"
        )
    }
    assert rows[(D(2026, 11, 9), "HK", "HKD")] == (24.0, 3.0)
    assert rows[(D(2026, 11, 15), "HK", "HKD")] == (36.0, 4.8)
    assert rows[(D(2026, 11, 3), "SG", "SGD")] == (150.0, 120.0)
    assert rows[(D(2026, 11, 10), "SG", "SGD")] == (-150.0, -120.0)
    assert rows[(D(2026, 11, 5), "HK", "EUR")] == (10.0, None)
    # November in USD: HK 80 + 24 + 36 + 24 + 80 HKD = 244 HKD at 8 (128 HKD) and 7.5
    # (116 HKD): 16 + 15.47 = 31.47; E's EUR left out. SG: 150 - 150 + 10 = 10 SGD = 8 USD.
    assert fact(marts, "Revenue", "monthly", D(2026, 11, 1), country="HK", **USD) == 31.47
    assert fact(marts, "Revenue", "monthly", D(2026, 11, 1), country="SG", **USD) == 8.0
    assert fact(marts, "Refund amount", "monthly", D(2026, 11, 1), country="SG", **USD) == 120.0


def test_mrr_normalised_from_the_billing_period(marts: Warehouse) -> None:
    found = {
        (r[0], r[1]): (r[2], r[3], r[4])
        for r in marts.rows(
            "SELECT subscription_id, period_start, billed_days, mrr, mrr_reporting "
            "FROM marts.subscription_mrr"
        )
    }
    assert found[("SB", D(2026, 11, 9))] == (7, 104.0, 13.0)  # weekly: 24 * 52 / 12
    assert found[("SC", D(2026, 11, 3))][:2] == (365, 12.5)  # yearly: 150 / 12
    assert found[("SF", D(2026, 10, 25))] == (30, 10.0, 8.0)  # status only: G's list price
    assert found[("SE", D(2026, 11, 5))] == (30, 10.0, None)  # no EUR rate
    assert ("SA", D(2026, 11, 1)) not in found  # a trial has no MRR


def test_each_mrr_period_names_its_segment_through_dim_segment(marts: Warehouse) -> None:
    """subscription_mrr keeps a number per segment; dim_segment names each number once.
    By hand, from transactions.csv and status.csv, the MRR periods' (country, platform,
    plan, channel, sector, currency): SA's month and SD2's (HK, PREMIUM_M; iOS / Android),
    SB's week before and after its upgrade (PREMIUM_W, then PREMIUM_HD_W), SC's year (SG,
    SGD), SD1's week (HK Android), SE's month on the web (EUR), and SG1's and SF's month
    (SG Android, SGD: SF has G's list price). Eight: the trial (SA's) has no MRR, and the
    candidates (eight name sets times HKD, SGD and EUR) without an MRR period are left out."""
    store = ("Google Play", "Store")
    app_store = ("App Store", "Store")
    assert sorted(
        tuple(r[1:])
        for r in marts.rows(
            "SELECT segment_id, country, platform, plan_code, channel, channel_sector, currency "
            "FROM marts.dim_segment"
        )
    ) == sorted(
        [
            ("HK", "iOS IAP", "PREMIUM_M", *app_store, "HKD"),
            ("HK", "iOS IAP", "PREMIUM_W", *app_store, "HKD"),
            ("HK", "iOS IAP", "PREMIUM_HD_W", *app_store, "HKD"),
            ("HK", "Android IAP", "PREMIUM_M", *store, "HKD"),
            ("HK", "Android IAP", "PREMIUM_W", *store, "HKD"),
            ("HK", "Web", "WEB_M", "Web", "Direct", "EUR"),
            ("SG", "Android IAP", "PREMIUM_Y", *store, "SGD"),
            ("SG", "Android IAP", "PREMIUM_M", *store, "SGD"),
        ]
    )
    joined = marts.rows(
        "SELECT m.subscription_id, m.period_start, s.plan_code, s.currency "
        "FROM marts.subscription_mrr AS m "
        "JOIN marts.dim_segment AS s ON s.segment_id = m.segment_id"
    )
    periods = marts.rows("SELECT count(*) FROM marts.subscription_mrr")[0][0]
    # nine MRR periods: SA, SB twice, SC, SD1, SD2, SE, SF, SG1; each named, once
    assert len(joined) == periods == 9
    named = {(r[0], r[1]): tuple(r[2:]) for r in joined}
    assert named[("SB", D(2026, 11, 9))] == ("PREMIUM_W", "HKD")
    assert named[("SB", D(2026, 11, 15))] == ("PREMIUM_HD_W", "HKD")
    assert named[("SF", D(2026, 10, 25))] == ("PREMIUM_M", "SGD")
    assert named[("SE", D(2026, 11, 5))] == ("WEB_M", "EUR")


def test_mrr_stock_each_day(marts: Warehouse) -> None:
    def stock(day: dt.date, currency: str) -> float:
        found = marts.rows(
            "SELECT sum(mrr) FROM marts.mrr_daily WHERE day = ? AND currency = ?",
            [day, currency],
        )
        return float(found[0][0] or 0)

    hkd = {1: 0, 4: 104, 8: 184, 9: 288, 11: 184, 15: 236, 20: 316, 22: 160, 30: 160}
    assert {d: stock(D(2026, 11, d), "HKD") for d in hkd} == hkd
    sgd = {1: 10, 3: 22.5, 6: 32.5, 10: 20, 25: 10, 30: 10}
    assert {d: stock(D(2026, 11, d), "SGD") for d in sgd} == sgd
    assert fact(marts, "MRR", "monthly", D(2026, 11, 1), country="HK", **USD) == 20.67
    assert fact(marts, "ARR", "monthly", D(2026, 11, 1), country="HK", **own("HKD")) == 1920.0
    # 9 Nov, HK: D, A, B and E pay (E in EUR counts as a subscriber, not as USD)
    assert fact(marts, "Paying subscriber", "daily", D(2026, 11, 9), country="HK") == 4


def test_mrr_movements_november(marts: Warehouse) -> None:
    month = D(2026, 11, 1)
    hkd = {
        "New MRR": 288.0,
        "Expansion MRR": 52.0,
        "Contraction MRR": 0.0,
        "Churn MRR": -260.0,
        "Reactivation MRR": 80.0,
    }
    assert {t: fact(marts, t, "monthly", month, **own("HKD")) for t in hkd} == hkd
    usd = {
        "New MRR": 36.0,
        "Expansion MRR": 6.93,
        "Exchange rate MRR": 0.87,
        "Churn MRR": -33.8,
        "Reactivation MRR": 10.67,
    }
    assert {t: fact(marts, t, "monthly", month, country="HK", **USD) for t in usd} == usd
    assert fact(marts, "New MRR", "monthly", month, **own("EUR")) == 10.0
    assert fact(marts, "New MRR", "monthly", month, country="SG", **USD) == 18.0
    assert fact(marts, "Churn MRR", "monthly", month, country="SG", **USD) == -18.0


def test_mrr_movements_by_day_and_plan(marts: Warehouse) -> None:
    """B's upgrade counts under the new plan on its day; a trial's payment is New MRR on
    the day paid; a full refund is Churn MRR that day."""
    upgrade = fact(
        marts, "Expansion MRR", "daily", D(2026, 11, 15), meta_1="PREMIUM_HD_W", **own("HKD")
    )
    assert upgrade == 52.0
    assert fact(marts, "New MRR", "daily", D(2026, 11, 8), **own("HKD")) == 80.0
    assert fact(marts, "Churn MRR", "daily", D(2026, 11, 10), **own("SGD")) == -12.5
    assert fact(marts, "Churn MRR", "daily", D(2026, 11, 22), **USD) == -20.8
    # the week of Monday 16 Nov: SD2 reactivates (20th), B churns (22nd)
    week = D(2026, 11, 16)
    assert fact(marts, "Reactivation MRR", "weekly", week, **own("HKD")) == 80.0
    assert fact(marts, "Churn MRR", "weekly", week, **own("HKD")) == -156.0


def test_movements_explain_the_stock_every_day(marts: Warehouse) -> None:
    """MRR(d) = MRR(d-1) + the day's movements, per currency and country, own and USD."""
    stocks = {
        (r[0], r[1], r[2]): (r[3], r[4])
        for r in marts.rows(
            "SELECT day, country, currency, sum(mrr), sum(mrr_reporting) FROM marts.mrr_daily "
            "GROUP BY 1, 2, 3"
        )
    }
    moves = {
        (r[0], r[1], r[2]): (r[3], r[4])
        for r in marts.rows(
            "SELECT day, country, currency, sum(mrr), sum(mrr_reporting) "
            "FROM marts.mrr_movements GROUP BY 1, 2, 3"
        )
    }
    for country, currency in (("HK", "HKD"), ("SG", "SGD")):
        day = D(2026, 11, 1)
        previous = stocks.get((day, country, currency), (0.0, 0.0))
        while day < D(2026, 11, 30):
            day += dt.timedelta(days=1)
            now = stocks.get((day, country, currency), (0.0, 0.0))
            moved = moves.get((day, country, currency), (0.0, 0.0))
            assert round(now[0] - previous[0], 2) == round(moved[0], 2), (day, currency)
            assert round(now[1] - previous[1], 2) == round(moved[1], 2), (day, currency)
            previous = now


def test_arpu_and_arppu(marts: Warehouse) -> None:
    """8 Nov, HK iOS: A pays 80 HKD (10 USD), B is in its trial: ARPU 10 / 2 = 5 (trials
    count as active), ARPPU 10 / 1 = 10."""
    day = D(2026, 11, 8)
    assert fact(marts, "ARPU", "daily", day, country="HK", platform="iOS IAP") == 5.0
    assert fact(marts, "ARPPU", "daily", day, country="HK", platform="iOS IAP") == 10.0


def test_no_sum_across_currencies(marts: Warehouse) -> None:
    """Every money row names its currency, and converted rows only the reporting one."""
    found = marts.rows(
        "SELECT DISTINCT meta_5, meta_8 FROM marts.subscription_fact "
        "WHERE type NOT IN ('Paying subscriber') ORDER BY 1, 2"
    )
    assert sorted(found, key=str) == sorted(
        [("EUR", None), ("HKD", None), ("SGD", None), ("USD", "Converted")], key=str
    )


def test_rate_sheet_rows_checked() -> None:
    """A zero rate or a code that is not ISO 4217 is a bad row naming its line and field."""
    sheet = get_dataset("google-drive", "exchange-rates")
    text = "Date,Currency,Per USD\n2026-11-01,HKD,7.8\n2026-11-01,hkd,7.8\n2026-11-01,SGD,0\n"
    parsed = sheet.parse(gzip.compress(text.encode()), "exchange-rates-2026-11-01.csv.gz")
    assert parsed.table.column("currency").to_pylist() == ["HKD"]
    assert [(b.line, b.field) for b in parsed.bad_rows] == [(3, "Currency"), (4, "Per USD")]


def test_daily_build_equals_the_full_build(tmp_path: Path) -> None:
    """The fixture loaded in steps after 11 Nov (the first eleven days built in full), each
    step built by the daily build: every analytics table equals a full build's. Both run
    incrementally where they declare a range (the MRR marts by user and by day, the fact by
    period). The rate sheet is there from the start: a rate revised for a past day reaches
    the days the daily build does not recompute with the next full build (docs/metrics.md),
    so a sheet arriving late is the full build's to apply."""
    from tally.config import load_settings
    from tally.pipeline.incremental import build_day

    from .conftest import SUBSCRIBER_MODELS, memory_warehouse

    chosen = [m for m in discover_models() if m.table in {*SUBSCRIBER_MODELS, *MODELS}]
    staged = memory_warehouse()
    load_analytics_fixture(staged)
    warehouse = memory_warehouse()
    context = Context(load_settings(environ={}), warehouse, Lake(str(tmp_path / "lake")))
    tables = (TRANSACTIONS_TABLE, STATUS_TABLE)
    warehouse.append(RATES_TABLE, staged.query(f"SELECT * FROM {RATES_TABLE}"))

    def load_days(first: dt.date, last: dt.date) -> None:
        for table in tables:
            rows = staged.query(
                f"SELECT * FROM {table} WHERE _partition_date BETWEEN ? AND ?", [first, last]
            )
            if rows.num_rows:
                warehouse.append(table, rows)

    load_days(D(2026, 11, 1), D(2026, 11, 11))
    build(context, chosen)
    # three days one by one (B's upgrade on 15 Nov among them), then two catch-ups of
    # several days (the scheduler's way after an outage): B's churn, the reactivation,
    # F's churn
    for first, last in ((12, 12), (13, 13), (14, 15), (16, 22), (23, 30)):
        load_days(D(2026, 11, first), D(2026, 11, last))
        outcome = build_day(context, D(2026, 11, last), chosen=chosen)
        assert outcome["marts.subscriber_total"].startswith("incremental"), outcome
        for table in ("marts.subscription_mrr", "marts.mrr_daily", "marts.subscription_fact"):
            assert outcome[table].startswith("incremental"), outcome
    daily = {t: sorted(warehouse.rows(f"SELECT * FROM {t}"), key=repr) for t in MODELS}
    build(context, chosen)
    full = {t: sorted(warehouse.rows(f"SELECT * FROM {t}"), key=repr) for t in MODELS}
    for table in MODELS:
        assert daily[table] == full[table], table
    assert len(full["marts.mrr_movements"]) > 10


# billed_twice.csv: three subscriptions whose one period (10 Nov .. 10 Dec, 30 days: one
# month, so MRR = the price) is described by two billed rows each, loaded on top of the
# fixture:
#   SX  TX1 80 HKD at 10:00, TX2 88 HKD at 12:00          the latest row: 88
#   SY  TY2 72 HKD and TY1 64 HKD, both at 10:00          same time: the lower id, TY1: 64
#   SZ  TZ1 80 HKD at 10:00, TZ2 0 HKD at 12:00 (a 0-priced restatement, which wins the
#       period itself)                                    the latest row with an amount: 80


def test_a_period_billed_twice_takes_its_latest_billed_row(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    """subscription_mrr ranks only the periods with several billed rows: each of these is
    priced by its latest row with an amount, the lower transaction id first on a tie."""
    load_analytics_fixture(warehouse)
    load_fixture_csv(warehouse, FIXTURES / "billed_twice.csv", TRANSACTIONS_TABLE)
    build_analytics(warehouse, settings, tmp_path / "lake")
    with warehouse.session():
        found = warehouse.rows(
            "SELECT subscription_id, period_start, amount, billed_days, mrr "
            "FROM marts.subscription_mrr WHERE subscription_id IN ('SX', 'SY', 'SZ') "
            "ORDER BY subscription_id"
        )
    assert [tuple(row) for row in found] == [
        ("SX", D(2026, 11, 10), 88.0, 30, 88.0),
        ("SY", D(2026, 11, 10), 64.0, 30, 64.0),
        ("SZ", D(2026, 11, 10), 80.0, 30, 80.0),
    ]
