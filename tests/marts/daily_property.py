"""Daily == full as a property: random subscription histories, loaded day by day with the
daily build (``incremental.build_day``), give exactly the tables of a full build, every
subscriber model, money included, on DuckDB and PostgreSQL.

A history is one user with one to three subscriptions, each a random story: a trial or a
purchase, then renewals, grace periods paid late, billing retries recovered days later,
full and partial refunds, plan changes that take effect at once, auto-renew turned off,
moves to another country; some subscriptions appear in the status export too, and some
only there (redemptions); the export sometimes restates a subscription's plan or country
in place from a later day (so a period no billed row describes changes with no transaction
of its own changing). Each transaction is delivered on its day, or days late (a
backdated row), sometimes twice (in the same file, or again days later), sometimes
revised in a later day's file (another amount, another time, another period, another
subscription of the same user, another plan or another country). Several histories share
one warehouse: each example loads 4 days, builds in full, then loads and builds the other
days one by one (the last two together, as a scheduler catching up), and compares every
subscriber model with a full build of the same staging tables.

Issue 23's marts (MRR, its movements and stock, the subscription fact, cohorts, LTV,
revenue per subscription, attribution) are built and compared with them, money included:
an exchange-rate sheet restated each day with that day's quotes (HKD and SGD moving, so
continuing MRR has exchange-rate movements) converts it to US dollars.

The search is split into ``PARTS`` test modules, ``test_daily_equals_full*.py``, each a
property test of its own (its own hypothesis search, so its own random seed) over
``EXAMPLES`` examples of ``HISTORIES`` histories: ``PARTS * EXAMPLES * HISTORIES`` histories
per backend a run (200). Apart, ``pytest -n 2 --dist loadfile`` (``make test``) can run
them on both workers; one module of 200 histories was the suite's last file to finish.
``TALLY_PROPERTY_EXAMPLES`` raises ``EXAMPLES`` for a longer search (benchmarks/README.md
has the times).
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from tally.config import load_settings
from tally.lake import Lake
from tally.models.sets import ANALYTICS_MODELS
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.pipeline.incremental import build_day
from tally.sources import get_dataset
from tally.sources.viu_premium import STATUS_COLUMNS, TRANSACTION_COLUMNS, parse_csv, write_csv
from tally.warehouse import Warehouse

from .conftest import STATUS_TABLE, SUBSCRIBER_MODELS, TRANSACTIONS_TABLE, load_rows

# issue 23's marts (tally.models.sets): compared like the subscriber marts
COMPARED = SUBSCRIBER_MODELS + ANALYTICS_MODELS
RATES_TABLE = "staging.google_drive_exchange_rates"

BASE = dt.date(2026, 3, 23)  # a Monday; the loaded days cross into April
LOADED = 12  # days loaded: BASE .. BASE + 11
FIRST_BUILD = 4  # days loaded before the first (full) build
HISTORIES = 50
EXAMPLES = int(os.environ.get("TALLY_PROPERTY_EXAMPLES", "1"))
PARTS = 4  # the test modules test_daily_equals_full*.py (a test checks they are there)
PLANS = {"PREMIUM_M": 68.0, "PREMIUM_HD_M": 88.0}
OTHER_PLAN = {"PREMIUM_M": "PREMIUM_HD_M", "PREMIUM_HD_M": "PREMIUM_M"}
OTHER_COUNTRY = {"HK": "SG", "SG": "HK"}
RESTATED = ("plan", "country")
CHANNELS = (
    ("iOS IAP", "App Store", "Store"),
    ("Android IAP", "Google Play", "Store"),
    ("Telco", "CSL", "Telco"),
)
STEPS = (
    "renew",
    "renew",
    "grace",
    "retry",
    "refund_full",
    "refund_partial",
    "plan_change",
    "auto_renew_off",
    "move_country",
)


@dataclass
class Row:
    """One transaction as the subscription system means it (days are offsets from BASE)."""

    type: str
    day: int
    hour: int
    period: tuple[int, int]
    amount: float
    plan: str
    country: str


@dataclass
class Story:
    channel: tuple[str, str, str]
    rows: list[Row] = field(default_factory=list)
    # (start, end, kind, plan, country, known from day) of each access period, for the
    # status export
    periods: list[tuple[int, int, str, str, str, int]] = field(default_factory=list)
    exported: bool = False
    billed: bool = True
    # (from day, "plan" or "country"): the status export restates the subscription's plan or
    # country in place from that day on (a period no billed row describes then changes with
    # no transaction of its own changing)
    restated: tuple[int, str] | None = None


@st.composite
def stories(draw: st.DrawFn, start: int, country: str) -> Story:
    story = Story(channel=draw(st.sampled_from(CHANNELS)), exported=draw(st.booleans()))
    plan = draw(st.sampled_from(sorted(PLANS)))
    length = draw(st.integers(2, 6))
    hour = draw(st.sampled_from([1, 10, 23]))
    if draw(st.integers(0, 9)) == 0:  # a redemption: only in the status export
        story.billed, story.exported = False, True
        story.periods.append((start, start + length * 3, "paid", plan, country, start))
        return story
    trial = draw(st.booleans())
    kind = "trial" if trial else "paid"
    story.rows.append(
        Row(
            "trial_start" if trial else "purchase",
            start,
            hour,
            (start, start + length),
            0.0 if trial else PLANS[plan],
            plan,
            country,
        )
    )
    story.periods.append((start, start + length, kind, plan, country, start))
    period = (start, start + length)
    for step in draw(st.lists(st.sampled_from(STEPS), max_size=5)):
        end = period[1]
        if step == "move_country":
            country = "SG" if country == "HK" else "HK"
            step = "renew"
        if step == "renew":
            period = (end, end + length)
            story.rows.append(Row("renewal", end, hour, period, PLANS[plan], plan, country))
            story.periods.append((*period, "paid", plan, country, end))
        elif step == "grace":
            late = draw(st.integers(1, 3))
            story.rows.append(
                Row("grace_period_start", end, hour, (end, end + 4), 0.0, plan, country)
            )
            story.periods.append((end, end + 4, "grace", plan, country, end))
            period = (end, end + length)
            story.rows.append(Row("renewal", end + late, hour, period, PLANS[plan], plan, country))
            story.periods.append((*period, "paid", plan, country, end + late))
        elif step == "retry":
            back = draw(st.integers(1, 4))
            story.rows.append(Row("billing_retry_start", end, hour, period, 0.0, plan, country))
            period = (end + back, end + back + length)
            story.rows.append(Row("renewal", end + back, hour, period, PLANS[plan], plan, country))
            story.periods.append((*period, "paid", plan, country, end + back))
        elif step in ("refund_full", "refund_partial"):
            on = draw(st.integers(period[0], period[1] - 1))
            price = PLANS[plan] if kind == "paid" or len(story.rows) > 1 else 0.0
            part = price if step == "refund_full" else round(price / 2, 2)
            story.rows.append(Row("refund", on, hour + 0, period, -part, plan, country))
            if step == "refund_full":
                break
        elif step == "plan_change":
            on = draw(st.integers(period[0] + 1, max(period[0] + 1, period[1] - 1)))
            plan = "PREMIUM_HD_M" if plan == "PREMIUM_M" else "PREMIUM_M"
            period = (on, on + length)
            story.rows.append(Row("purchase", on, hour, period, PLANS[plan], plan, country))
            story.periods.append((*period, "paid", plan, country, on))
        elif step == "auto_renew_off":
            on = draw(st.integers(period[0], period[1] - 1))
            story.rows.append(Row("auto_renew_off", on, hour, period, 0.0, plan, country))
            break
        kind = "paid"
    return story


@st.composite
def deliveries(draw: st.DrawFn) -> list[tuple[int, str]]:
    """How one row arrives: (days late, what) for each copy sent."""
    late = draw(st.sampled_from([0, 0, 0, 0, 1, 3]))
    copies = [(late, "as is")]
    extra = draw(
        st.sampled_from(
            ["none"] * 7
            + ["same file", "later", "revised", "moved", "period", "subscription"]
            + ["plan", "country"]
        )
    )
    if extra == "same file":
        copies.append((late, "as is"))
    elif extra == "later":
        copies.append((late + draw(st.integers(1, 3)), "as is"))
    elif extra == "revised":  # another amount, days later
        copies.append((late + draw(st.integers(1, 3)), "amount"))
    elif extra == "moved":  # another time: the day before
        copies.append((late + draw(st.integers(1, 3)), "time"))
    elif extra == "period":  # another period: a day later
        copies.append((late + draw(st.integers(1, 3)), "period"))
    elif extra == "subscription":  # another subscription of the same user
        copies.append((late + draw(st.integers(1, 3)), "subscription"))
    elif extra in ("plan", "country"):
        # the row's plan or country corrected in place, days later: of a trial's or a first
        # purchase's row too (a reader-shaped @moves line, tests/marts/test_incremental.py
        # READER_SHAPED_MOVES, is wrong if such a change does not move the daily marts)
        copies.append((late + draw(st.integers(1, 3)), extra))
    return copies


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[Story, list[list[tuple[int, str]]]]]:
    country = draw(st.sampled_from(["HK", "SG"]))
    first = draw(st.integers(-3, LOADED - 2))
    told = []
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(first, LOADED - 1))
        story = draw(stories(start, country))
        if story.exported and draw(st.integers(0, 3)) == 0:
            story.restated = (start + draw(st.integers(1, 4)), draw(st.sampled_from(RESTATED)))
        told.append((story, [draw(deliveries()) for _ in story.rows]))
    return told


def moment(day: int, hour: int = 10) -> str:
    return f"{(BASE + dt.timedelta(days=day)).isoformat()}T{hour:02d}:00:00+08:00"


def export_rows(drawn: list) -> tuple[dict[int, list[dict]], dict[int, list[dict]]]:
    """The transactions and status-export rows of every partition day (offsets)."""
    transactions: dict[int, list[dict]] = {}
    status: dict[int, list[dict]] = {}
    for number, told in enumerate(drawn):
        user = f"U{number}"
        for index, (story, sent) in enumerate(told):
            subscription = f"S{number}-{index}"
            platform, channel, sector = (
                story.channel if story.billed else ("Redemption", "Redemption Campaign", "Partner")
            )
            ids = {
                "subscription_id": subscription,
                "user_id": user,
                "platform": platform,
                "channel": channel,
                "channel_sector": sector,
            }
            for position, (row, copies) in enumerate(zip(story.rows, sent, strict=True)):
                for late, what in copies:
                    day = row.day - 1 if what == "time" else row.day
                    amount = row.amount * 2 if what == "amount" else row.amount
                    shift = 1 if what == "period" else 0
                    moved = {"subscription_id": f"{subscription}b"}
                    moved = moved if what == "subscription" else {}
                    plan = OTHER_PLAN[row.plan] if what == "plan" else row.plan
                    country = OTHER_COUNTRY[row.country] if what == "country" else row.country
                    transactions.setdefault(row.day + late, []).append(
                        {
                            **ids,
                            **moved,
                            "transaction_id": f"T{number}-{index}-{position}",
                            "country": country,
                            "plan_code": plan,
                            "product_id": plan.lower(),
                            "type": row.type,
                            "transaction_time": moment(day, row.hour),
                            "period_start": moment(row.period[0] + shift),
                            "period_end": moment(row.period[1] + shift),
                            "amount": amount,
                            "currency": "HKD" if country == "HK" else "SGD",
                            "proceeds": round(amount * 0.7, 2),
                        }
                    )
            if story.exported:
                for day in range(LOADED):
                    listed = _status_row(story, day)
                    if listed is not None:
                        status.setdefault(day, []).append({**ids, **listed})
    return transactions, status


def _status_row(story: Story, day: int) -> dict | None:
    """The subscription as the status export shows it at the end of ``day``."""
    known = [p for p in story.periods if p[5] <= day and p[0] <= day]
    if not known:
        return None
    start, end, kind, plan, country, _ = known[-1]
    if day >= end + 7:
        return None
    if story.restated is not None and day >= story.restated[0]:
        what = story.restated[1]
        plan = OTHER_PLAN[plan] if what == "plan" else plan
        country = OTHER_COUNTRY[country] if what == "country" else country
    status = "grace_period" if kind == "grace" else "active" if day < end else "expired"
    payment = "free_trial" if kind == "trial" else "paying" if day < end else "none"
    return {
        "country": country,
        "plan_code": plan,
        "product_id": plan.lower(),
        "status": status,
        "payment_status": payment,
        "start_time": moment(story.periods[0][0]),
        "current_period_start": moment(start),
        "expiry_time": moment(end),
        "auto_renew": "true",
    }


def rate_sheet(day: int) -> str:
    """The exchange-rate sheet as restated on ``day``: a quote per currency for each day
    from a week before BASE to ``day``, moving by a cent now and then."""
    lines = ["Date,Currency,Per USD"]
    for quoted in range(-7, day + 1):
        date = (BASE + dt.timedelta(days=quoted)).isoformat()
        lines.append(f"{date},HKD,{7.80 + 0.01 * (quoted % 3):.2f}")
        lines.append(f"{date},SGD,{1.30 + 0.01 * (quoted % 4 == 0):.2f}")
    return "\n".join(lines) + "\n"


def load_day(warehouse: Warehouse, day: int, exports: tuple[dict, dict]) -> None:
    partition = BASE + dt.timedelta(days=day)
    sheet = get_dataset("google-drive", "exchange-rates")
    name = f"exchange-rates-{partition.isoformat()}.csv.gz"
    parsed_sheet = sheet.parse(gzip.compress(rate_sheet(day).encode()), name)
    assert not parsed_sheet.bad_rows
    rows = parsed_sheet.table
    load_rows(warehouse, RATES_TABLE, rows, [partition] * rows.num_rows)
    for rows_of, table, columns in (
        (exports[0], TRANSACTIONS_TABLE, TRANSACTION_COLUMNS),
        (exports[1], STATUS_TABLE, STATUS_COLUMNS),
    ):
        rows = rows_of.get(day, [])
        parsed = parse_csv(write_csv(rows, columns), f"{day}.csv", columns)
        assert not parsed.bad_rows, parsed.bad_rows[:3]
        load_rows(warehouse, table, parsed.table, [partition] * parsed.table.num_rows)


def snapshot(warehouse: Warehouse) -> dict[str, list[tuple]]:
    return {table: sorted(warehouse.rows(f"SELECT * FROM {table}"), key=repr) for table in COMPARED}


def reset(warehouse: Warehouse) -> None:
    """Drop every staging and mart table: each example starts from an empty warehouse."""
    found = warehouse.rows(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('staging', 'marts')"
    )
    for schema, name in found:
        warehouse.execute(f"DROP TABLE IF EXISTS {schema}.{name}")


@pytest.fixture
def context(warehouse: Warehouse, tmp_path: Path) -> Iterator[Context]:
    settings_ = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path / "data")})
    with warehouse.session():  # one connection: DuckDB would reopen the file per statement
        yield Context(settings_, warehouse, Lake(str(tmp_path / "lake")))


def day_by_day_property() -> Callable[..., None]:
    """A new property test, its own hypothesis search (each part's module makes one)."""

    # one pytest item per backend: past the suite's 300 s on a busy machine, so it gets its
    # own limit
    @pytest.mark.timeout(1800)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # a failing example is printed whole
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
    @given(drawn=st.lists(histories(), min_size=HISTORIES, max_size=HISTORIES))
    def test_day_by_day_equals_the_full_build(context: Context, drawn: list) -> None:
        # hypothesis tries the simplest draw first: HISTORIES copies of one history (a
        # redemption). Not counted, so every example that runs is a random one.
        assume(len({repr(history) for history in drawn}) > 1)
        check_day_by_day(context, drawn)

    return test_day_by_day_equals_the_full_build


def check_day_by_day(context: Context, drawn: list) -> None:
    """Load the histories day by day with the daily build; every model equals the full
    build's table."""
    warehouse = context.warehouse
    reset(warehouse)
    models = [m for m in discover_models() if m.table in COMPARED]
    exports = export_rows(drawn)
    for day in range(FIRST_BUILD):
        load_day(warehouse, day, exports)
    build(context, models)
    outcomes = []
    for day in range(FIRST_BUILD, LOADED - 2):
        load_day(warehouse, day, exports)
        outcomes.append(build_day(context, BASE + dt.timedelta(days=day), chosen=models))
    for day in (LOADED - 2, LOADED - 1):  # two days, one build
        load_day(warehouse, day, exports)
    outcomes.append(build_day(context, BASE + dt.timedelta(days=LOADED - 1), chosen=models))
    # every daily build took the incremental path (else this test would prove nothing)
    assert all(o[PERIODS].startswith("incremental") for o in outcomes), outcomes
    assert all(o[MRR].startswith("incremental") for o in outcomes), outcomes
    daily = snapshot(warehouse)
    build(context, models)
    full = snapshot(warehouse)
    for table in COMPARED:
        only_daily = [r for r in daily[table] if r not in full[table]]
        only_full = [r for r in full[table] if r not in daily[table]]
        assert daily[table] == full[table], (table, only_daily[:5], only_full[:5])


PERIODS = "marts.subscription_periods"
MRR = "marts.subscription_mrr"
