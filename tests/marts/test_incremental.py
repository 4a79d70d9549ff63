"""The incremental daily build gives exactly the tables the full build gives."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from tally.config import Settings, load_settings
from tally.lake import Lake
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.pipeline.incremental import build_day, restricted
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


def _last_day_incremental_equals_full(
    context: Context, warehouse: Warehouse, last: dt.date
) -> None:
    for name, table in (("transactions.csv", TRANSACTIONS_TABLE), ("status.csv", STATUS_TABLE)):
        rows, days = fixture_rows(name, table)
        before = pa.array([d < last for d in days])
        load_rows(warehouse, table, rows.filter(before), [d for d in days if d < last])
    build(context, subscriber_models())
    for name, table in (("transactions.csv", TRANSACTIONS_TABLE), ("status.csv", STATUS_TABLE)):
        rows, days = fixture_rows(name, table)
        newest = pa.array([d == last for d in days])
        load_rows(warehouse, table, rows.filter(newest), [d for d in days if d == last])
    outcome = build_day(context, last)
    assert outcome["marts.subscriber_total"].startswith("incremental from")
    incremental = snapshot(warehouse)
    build(context, subscriber_models())
    assert incremental == snapshot(warehouse)


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


def test_restricted_reads_only_the_chosen_rows() -> None:
    sql = "SELECT t.a FROM staging.x AS t JOIN marts.y AS y ON y.a = t.a"
    narrowed = restricted(sql, {"staging.x"}, "user_id = 'U1'")
    assert "(SELECT * FROM staging.x WHERE user_id = 'U1') AS t" in narrowed
    assert "marts.y AS y" in narrowed
