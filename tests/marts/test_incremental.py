"""The incremental daily build gives exactly the tables the full build gives."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from tally.config import Settings, load_settings
from tally.lake import Lake
from tally.pipeline.build import build, discover_models, read_columns
from tally.pipeline.context import Context
from tally.pipeline.incremental import DATE_GRAINS, build_day
from tally.sources.demo import DemoWorld
from tally.sources.viu_premium import SubscriberStatus, Transactions, parse_csv
from tally.warehouse import Warehouse

from .conftest import (
    FIXTURES,
    STATUS_TABLE,
    SUBSCRIBER_MODELS,
    TRANSACTIONS_TABLE,
    load_rows,
    load_world,
    memory_warehouse,
)


def snapshot(warehouse: Warehouse) -> dict[str, list[tuple]]:
    return {
        table: sorted(warehouse.rows(f"SELECT * FROM {table}"), key=repr)
        for table in SUBSCRIBER_MODELS
    }


def subscriber_models() -> list:
    return [m for m in discover_models() if m.table in SUBSCRIBER_MODELS]


def fixture_rows(name: str, table: str) -> tuple[pa.Table, list[dt.date]]:
    path = FIXTURES / name
    columns = SubscriberStatus.columns if table == STATUS_TABLE else Transactions.columns
    parsed = parse_csv(path.read_bytes(), path.name, columns)
    with path.open(encoding="utf-8") as handle:
        days = [dt.date.fromisoformat(r["_partition_date"]) for r in csv.DictReader(handle)]
    return parsed.table, days


def test_hand_fixture_last_day_incremental_equals_full(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    # 8 Nov brings only the status export (J's trial ends unpaid,
    # B's expiry shows); the build must move J's churn and trial end into 8 Nov
    last = dt.date(2026, 11, 8)
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    with warehouse.session():  # one connection: DuckDB would reopen the file per statement
        _last_day_incremental_equals_full(context, warehouse, last)


@pytest.mark.parametrize(
    "last",
    [
        dt.date(2026, 10, 31),  # C's renewal fails: a grace-period notice, no payment yet
        dt.date(2026, 11, 2),  # C paid in grace, D back from billing retry, G changes plan
        dt.date(2026, 11, 4),  # E's purchase refunded: the period ends on the refund's day
        dt.date(2026, 11, 6),  # F comes back on a new subscription: a reactivation
    ],
)
def test_each_kind_of_change_incremental_equals_full(
    warehouse: Warehouse, settings: Settings, tmp_path: Path, last: dt.date
) -> None:
    # the daily build replaces only the periods (and spans) that moved: on each of these
    # days an earlier period changes too (closed by the renewal, cut by the refund, ...)
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    with warehouse.session():
        _last_day_incremental_equals_full(context, warehouse, last)


def test_a_backdated_transaction_incremental_equals_full(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    # 9 Nov's file brings a purchase by H from 27 to 29 Oct, on a subscription never seen:
    # H's status-export period from 29 Oct, a new subscriber's start until now, becomes a
    # continuation of H's access, so the marts move from 27 Oct on, not from 9 Nov
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    with warehouse.session():
        build_until(context, warehouse, dt.date(2026, 11, 9))
        load_rows(warehouse, TRANSACTIONS_TABLE, backdated_purchase(), [dt.date(2026, 11, 9)])
        outcome = build_day(context, dt.date(2026, 11, 9))
        assert outcome["marts.subscriber_total"] == "incremental from 2026-10-27"
        assert_equals_full_build(context, warehouse)


def transactions(*lines: str) -> pa.Table:
    """Rows of the transactions export, one CSV line each (no header)."""
    header = ",".join(column.name for column in Transactions.columns)
    text = "\n".join((header, *lines)) + "\n"
    parsed = parse_csv(text.encode(), "rows.csv", Transactions.columns)
    assert not parsed.bad_rows, parsed.bad_rows
    return parsed.table


def backdated_purchase() -> pa.Table:
    """H's purchase of 27-29 Oct on a subscription never seen, as 9 Nov's file brings it."""
    return transactions(
        "TH0,SH0,UH,HK,iOS IAP,PREMIUM_M,com.tally.video.monthly,App Store,Store,purchase,"
        "2026-10-27T10:00:00+08:00,2026-10-27T10:00:00+08:00,2026-10-29T10:00:00+08:00,"
        "68.00,HKD,47.60"
    )


def assert_equals_full_build(context: Context, warehouse: Warehouse) -> None:
    """The marts as they stand are the ones a full build makes from the same staging."""
    incremental = snapshot(warehouse)
    build(context, subscriber_models())
    assert incremental == snapshot(warehouse)


def build_until(
    context: Context, warehouse: Warehouse, last: dt.date, earlier: pa.Table | None = None
) -> None:
    """The fixture's days before ``last`` loaded (and ``earlier``'s transactions, on the
    day before ``last``) and built, then ``last``'s rows loaded."""
    for name, table in (("transactions.csv", TRANSACTIONS_TABLE), ("status.csv", STATUS_TABLE)):
        rows, days = fixture_rows(name, table)
        before = pa.array([d < last for d in days])
        load_rows(warehouse, table, rows.filter(before), [d for d in days if d < last])
    if earlier is not None:
        day_before = last - dt.timedelta(days=1)
        load_rows(warehouse, TRANSACTIONS_TABLE, earlier, [day_before] * earlier.num_rows)
    build(context, subscriber_models())
    for name, table in (("transactions.csv", TRANSACTIONS_TABLE), ("status.csv", STATUS_TABLE)):
        rows, days = fixture_rows(name, table)
        newest = pa.array([d == last for d in days])
        load_rows(warehouse, table, rows.filter(newest), [d for d in days if d == last])


def _last_day_incremental_equals_full(
    context: Context, warehouse: Warehouse, last: dt.date
) -> None:
    build_until(context, warehouse, last)
    outcome = build_day(context, last)
    assert outcome["marts.subscriber_total"].startswith("incremental from")
    assert_equals_full_build(context, warehouse)


@pytest.mark.parametrize("seed", [4, 9])
def test_day_by_day_incremental_equals_full(seed: int, tmp_path: Path) -> None:
    first = dt.date(2026, 10, 20)
    days = [first + dt.timedelta(days=n) for n in range(16)]  # crosses into November
    world = DemoWorld(seed, first, days[-1], scale=0.04)
    warehouse = memory_warehouse()
    context = Context(load_settings(environ={}), warehouse, Lake(str(tmp_path / "lake")))
    load_world(warehouse, world, days[:10])
    build(context, subscriber_models())
    outcomes = []
    for day in days[10:13]:
        load_world(warehouse, world, [day])
        outcomes.append(build_day(context, day)["marts.subscriber_total"])
    # a scheduler catching up loads several days before one build
    load_world(warehouse, world, days[13:])
    outcomes.append(build_day(context, days[-1])["marts.subscriber_total"])
    assert all(o.startswith("incremental") for o in outcomes)
    incremental = snapshot(warehouse)
    build(context, subscriber_models())
    full = snapshot(warehouse)
    for table in SUBSCRIBER_MODELS:
        assert incremental[table] == full[table], table


def test_a_reloaded_day_inside_the_built_range_takes_the_full_build(tmp_path: Path) -> None:
    first = dt.date(2026, 10, 20)
    days = [first + dt.timedelta(days=n) for n in range(8)]
    world = DemoWorld(3, first, days[-1], scale=0.03)
    warehouse = memory_warehouse()
    context = Context(load_settings(environ={}), warehouse, Lake(str(tmp_path / "lake")))
    load_world(warehouse, world, days)
    build(context, subscriber_models())
    outcome = build_day(context, days[3])
    assert outcome["marts.subscriber_total"] == "ok"  # the full build's answer


def test_a_daily_build_stopped_half_way_leaves_the_stored_build_as_it_was(
    warehouse: Warehouse, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the periods of 2 Nov are replaced, then the build stops before the marts: had the
    # periods and the new horizon stayed, the next day's build would take 2 Nov as built
    # and its marts would never move
    from tally.pipeline import incremental

    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    last = dt.date(2026, 11, 2)

    def stopped(*arguments: object) -> None:
        raise RuntimeError("stopped")

    with warehouse.session():
        build_until(context, warehouse, last)
        stored = snapshot(warehouse)  # the day's rows are in staging, not yet in the marts
        with monkeypatch.context() as patched:
            patched.setattr(incremental, "rebuild_days", stopped)
            with pytest.raises(RuntimeError, match="stopped"):
                build_day(context, last)
        assert snapshot(warehouse) == stored
        ledger = "SELECT status, error FROM tally_meta.runs WHERE dataset = ?"
        assert warehouse.rows(ledger, [f"incremental {last}"]) == [
            ("failed", "RuntimeError: stopped")
        ]
        # run again, the day builds as if the first try had not happened
        assert build_day(context, last)["marts.subscriber_total"].startswith("incremental")
        assert_equals_full_build(context, warehouse)


NEW_MART = """-- New subscribers and churn per business day and country: a mart added the way
-- docs/ARCHITECTURE.md ("How a model declares its range") says.
-- @range day day
-- @reads marts.subscriber_daily WHERE day >= {since}
SELECT day, country, CAST(sum(new_subscribers) AS BIGINT) AS new_subscribers,
    CAST(sum(churn) AS BIGINT) AS churn
FROM marts.subscriber_daily
GROUP BY day, country
"""


def test_a_mart_added_as_the_docs_say_is_rebuilt_by_its_range(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    # 4 Nov: E's purchase is refunded, so E's churn lands on 4 Nov; the new mart is rebuilt
    # from the first day that moved, not whole, and equals its full build
    (tmp_path / "marts").mkdir()
    (tmp_path / "marts" / "new_daily.sql").write_text(NEW_MART, encoding="utf-8")
    mart = discover_models(tmp_path)[0]
    assert mart.table == "marts.new_daily" and mart.range is not None
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    last = dt.date(2026, 11, 4)
    with warehouse.session():
        build_until(context, warehouse, last)
        build(context, [mart])
        outcome = build_day(context, last, chosen=[*subscriber_models(), mart])
        assert outcome["marts.new_daily"].startswith("incremental from 2026-11-0"), outcome
        daily = sorted(warehouse.rows("SELECT * FROM marts.new_daily"))
        assert ("2026-11-04", "HK") in {(str(d), c) for d, c, _, churn in daily if churn}
        build(context, [*subscriber_models(), mart])
        assert daily == sorted(warehouse.rows("SELECT * FROM marts.new_daily"))


# Reader-shaped @moves: these models' @moves give, for some columns, the first day their
# date-ranged readers' rows can change as those readers read them today, not the first day
# any reader's could (subscription_periods' header: a grace period paid later moves
# subscriber_daily from the day paid, not its start; subscription_mrr's: a renewal after a
# gap moves mrr_movements not at all). A new date-ranged reader of those columns must be
# checked against the lines before it lands. table -> (its shaped columns, their readers)
READER_SHAPED_MOVES = {
    "marts.subscription_periods": (
        {
            *("user_id", "country", "platform", "plan_code", "product_id", "channel"),
            *("channel_sector", "kind", "spell_start", "user_prev_end", "source_rank"),
            *("source_time", "paying_from", "previous_kind", "previous_plan_code"),
            *("paid_on", "continues"),
        },
        {"marts.subscriber_daily"},
    ),
    "marts.subscription_mrr": ({"next_start", "user_prev_end"}, {"marts.mrr_movements"}),
}


def test_reader_shaped_moves_have_only_the_readers_they_were_written_for() -> None:
    models = discover_models()
    for table, (shaped, expected) in READER_SHAPED_MOVES.items():
        dated = set()
        for model in models:
            if table not in model.reads or model.range is None:
                continue
            if model.range.grain not in DATE_GRAINS:
                continue
            read = read_columns(model, table)
            if read is None or read & shaped:
                dated.add(model.table)
        assert dated == expected, (
            f"{table}'s @moves for {sorted(shaped)} are written for {sorted(expected)} "
            f"alone; check them against {sorted(dated - expected)}, then update "
            "READER_SHAPED_MOVES"
        )


def test_a_sums_model_is_rebuilt_for_changed_keys_and_those_a_new_horizon_moves() -> None:
    """``@range sums``: the keys of its inputs' changed rows (through ``@reaches``), and
    those of the rows its ``@horizon`` line picks between the two horizons; a changed row
    of an input without the key column other than the bounds: rebuilt whole (None)."""
    from tally.pipeline.build import Model, declared_range, temporary
    from tally.pipeline.incremental import BOUNDS, Change, _summed_keys

    sql = (
        "-- @range sums subscription_id summed n\n"
        "-- @reaches marts.periods WHERE NOT _old\n"
        "-- @horizon marts.periods WHERE period_end > {built} AND period_end <= {horizon}\n"
        "WITH summed AS (SELECT 1 AS g, count(*) AS n FROM marts.periods) SELECT * FROM summed"
    )
    reads = frozenset({"marts.periods", BOUNDS})
    model = Model("marts.summed", sql, "summed.sql", reads, declared_range(sql))
    warehouse = memory_warehouse()
    warehouse.execute("CREATE SCHEMA IF NOT EXISTS marts")
    warehouse.execute(
        "CREATE TABLE marts.periods AS SELECT * FROM (VALUES ('s1', DATE '2026-12-01'), "
        "('s2', DATE '2026-12-02'), ('s3', DATE '2026-12-03')) AS v(subscription_id, period_end)"
    )
    warehouse.execute(f"CREATE TABLE {BOUNDS} AS SELECT DATE '2026-12-02' AS horizon")
    with warehouse.session():
        temporary(
            warehouse,
            "periods_delta",
            "SELECT * FROM (VALUES ('s4', true), ('s5', false)) AS v(subscription_id, _old)",
        )
        temporary(warehouse, "bounds_delta", "SELECT DATE '2026-12-01' AS horizon, true AS _old")
        changes = {
            "marts.periods": Change("periods_delta", None, False),
            BOUNDS: Change("bounds_delta", None, False),
        }
        named = _summed_keys(warehouse, model, changes, dt.date(2026, 12, 1))
        assert named is not None
        # s5 came (s4 went: no row of it reaches); s2's period ends by the new horizon
        assert sorted(warehouse.rows(" UNION ".join(named))) == [("s2",), ("s5",)]
        other = Model("marts.summed", sql, "summed.sql", reads | {"marts.rates"}, model.range)
        temporary(warehouse, "rates_delta", "SELECT 1.5 AS rate, false AS _old")
        changes["marts.rates"] = Change("rates_delta", None, False)
        assert _summed_keys(warehouse, other, changes, dt.date(2026, 12, 1)) is None
