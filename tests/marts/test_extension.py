"""The daily build's fast path: which subscriptions it extends, which users it sends whole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from tally.config import Settings
from tally.lake import Lake
from tally.pipeline import incremental
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.pipeline.extension import REUSED, extended_sql, model_ctes
from tally.sources.viu_premium import Transactions, parse_csv
from tally.warehouse import Warehouse

from .conftest import STATUS_TABLE, TRANSACTIONS_TABLE, load_rows
from .test_incremental import fixture_rows, snapshot, subscriber_models


def periods_model() -> str:
    return next(m.sql for m in discover_models() if m.table == incremental.PERIODS)


def test_model_ctes_finds_every_step_the_extension_reuses_in_order() -> None:
    names = list(model_ctes(periods_model()))
    reused = [name for name in names if name in REUSED]
    assert reused == list(REUSED)
    assert "periods" in names


def test_a_renamed_step_of_the_model_is_named_in_the_error() -> None:
    renamed = periods_model().replace("\nchosen AS (", "\npicked AS (")
    with pytest.raises(ValueError, match="chosen"):
        extended_sql(renamed)


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """What the daily build sent down each path, read when it starts the whole recomputation
    (the working tables are dropped by the time it returns)."""
    seen: dict[str, object] = {}
    whole = incremental._recompute_whole

    def spy(warehouse: Warehouse, model: str) -> None:
        seen["extended"] = {r[0] for r in warehouse.rows("SELECT subscription_id FROM touched")}
        seen["whole"] = {r[0] for r in warehouse.rows("SELECT user_id FROM recomputed_users")}
        whole(warehouse, model)

    monkeypatch.setattr(incremental, "_recompute_whole", spy)
    return seen


def _build_through(context: Context, warehouse: Warehouse, last: dt.date) -> None:
    """The fixture's days before ``last`` built, then ``last`` loaded (not built)."""
    for name, table in (("transactions.csv", TRANSACTIONS_TABLE), ("status.csv", STATUS_TABLE)):
        rows, days = fixture_rows(name, table)
        before = pa.array([d < last for d in days])
        load_rows(warehouse, table, rows.filter(before), [d for d in days if d < last])
    build(context, subscriber_models())
    for name, table in (("transactions.csv", TRANSACTIONS_TABLE), ("status.csv", STATUS_TABLE)):
        rows, days = fixture_rows(name, table)
        newest = pa.array([d == last for d in days])
        load_rows(warehouse, table, rows.filter(newest), [d for d in days if d == last])


def test_renewals_after_grace_retry_and_a_plan_change_are_extended(
    warehouse: Warehouse, settings: Settings, tmp_path: Path, paths: dict[str, object]
) -> None:
    # 2 Nov: C pays in grace (TC3), D renews after billing retry (TD3), G renews onto a new
    # plan (TG2). Each touches one subscription, after its latest stored period: all three
    # are extended, nobody is recomputed from their whole history
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    with warehouse.session():
        _build_through(context, warehouse, dt.date(2026, 11, 2))
        incremental.build_day(context, dt.date(2026, 11, 2))
        assert paths["whole"] == set()
        assert {"SC", "SD", "SG1"} <= paths["extended"]
        incremental_tables = snapshot(warehouse)
        build(context, subscriber_models())
        assert incremental_tables == snapshot(warehouse)


def test_a_backdated_purchase_sends_its_user_to_the_whole_recomputation(
    warehouse: Warehouse, settings: Settings, tmp_path: Path, paths: dict[str, object]
) -> None:
    # 9 Nov brings H's purchase of 27-29 Oct on a new subscription SH0; H's status-export
    # subscription starts on 29 Oct, after it, so SH0's period would change that one's
    # windows (new start or continuation): H is recomputed whole, nobody else
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    late = (
        ",".join(column.name for column in Transactions.columns)
        + "\nTH0,SH0,UH,HK,iOS IAP,PREMIUM_M,com.tally.video.monthly,App Store,Store,purchase,"
        "2026-10-27T10:00:00+08:00,2026-10-27T10:00:00+08:00,2026-10-29T10:00:00+08:00,"
        "68.00,HKD,47.60\n"
    )
    parsed = parse_csv(late.encode(), "late.csv", Transactions.columns)
    with warehouse.session():
        _build_through(context, warehouse, dt.date(2026, 11, 9))
        load_rows(warehouse, TRANSACTIONS_TABLE, parsed.table, [dt.date(2026, 11, 9)])
        incremental.build_day(context, dt.date(2026, 11, 9))
        assert paths["whole"] == {"UH"}
        assert "SH0" not in paths["extended"]
