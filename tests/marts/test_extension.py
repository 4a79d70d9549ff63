"""The daily build's fast path: which subscriptions it extends, which users it sends whole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tally.config import Settings
from tally.lake import Lake
from tally.pipeline import extension, incremental
from tally.pipeline.build import discover_models
from tally.pipeline.context import Context
from tally.pipeline.extension import REUSED, extended_sql, model_ctes
from tally.warehouse import Warehouse

from .conftest import TRANSACTIONS_TABLE, load_rows
from .test_incremental import (
    assert_equals_full_build,
    backdated_purchase,
    build_until,
    transactions,
)


def periods_model() -> str:
    return next(m.sql for m in discover_models() if m.table == extension.PERIODS)


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
    whole = extension._recompute_whole

    def spy(warehouse: Warehouse, *arguments: object) -> None:
        seen["extended"] = {r[0] for r in warehouse.rows("SELECT subscription_id FROM touched")}
        seen["whole"] = {r[0] for r in warehouse.rows("SELECT user_id FROM recomputed_users")}
        seen["tails"] = {r[0] for r in warehouse.rows("SELECT user_id FROM tails")}
        whole(warehouse, *arguments)

    monkeypatch.setattr(extension, "_recompute_whole", spy)
    return seen


def test_renewals_after_grace_retry_and_a_plan_change_are_extended(
    warehouse: Warehouse, settings: Settings, tmp_path: Path, paths: dict[str, object]
) -> None:
    # 2 Nov: C pays in grace (TC3), D renews after billing retry (TD3), G renews onto a new
    # plan (TG2). Each touches one subscription, after its latest stored period: all three
    # are extended, nobody is recomputed from their whole history
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    with warehouse.session():
        build_until(context, warehouse, dt.date(2026, 11, 2))
        incremental.build_day(context, dt.date(2026, 11, 2))
        assert paths["whole"] == set()
        assert {"SC", "SD", "SG1"} <= paths["extended"]
        # that the result equals the full build's: test_incremental.py, on the same day


def test_a_user_who_shares_a_day_users_hash_is_not_read_as_theirs(
    warehouse: Warehouse, settings: Settings, tmp_path: Path, paths: dict[str, object]
) -> None:
    # The day's users' stored latest periods ("tails") are picked by _user_hash, then by the
    # user. A's rows are given C's hash, as if their two hashes were equal: on 2 Nov C has
    # rows (TC3) and A none, so A's rows are picked by the hash and must be left by the user
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    with warehouse.session():
        build_until(context, warehouse, dt.date(2026, 11, 2))
        a_rows = "SELECT count(*) FROM marts.subscription_last_periods WHERE user_id = 'UA'"
        assert warehouse.rows(a_rows)[0][0] > 0
        warehouse.execute(
            "UPDATE marts.subscription_last_periods SET _user_hash = hash('UC') "
            "WHERE user_id = 'UA'"
        )
        incremental.build_day(context, dt.date(2026, 11, 2))
        assert "UC" in paths["tails"]
        assert "UA" not in paths["tails"]


def test_a_backdated_purchase_sends_its_user_to_the_whole_recomputation(
    warehouse: Warehouse, settings: Settings, tmp_path: Path, paths: dict[str, object]
) -> None:
    # 9 Nov brings H's purchase of 27-29 Oct on a new subscription SH0; H's status-export
    # subscription starts on 29 Oct, after it, so SH0's period would change that one's
    # windows (new start or continuation): H is recomputed whole, nobody else
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    with warehouse.session():
        build_until(context, warehouse, dt.date(2026, 11, 9))
        load_rows(warehouse, TRANSACTIONS_TABLE, backdated_purchase(), [dt.date(2026, 11, 9)])
        incremental.build_day(context, dt.date(2026, 11, 9))
        assert paths["whole"] == {"UH"}
        assert "SH0" not in paths["extended"]


def test_two_subscriptions_of_one_user_on_one_day_are_extended_together(
    warehouse: Warehouse, settings: Settings, tmp_path: Path, paths: dict[str, object]
) -> None:
    # 9 Nov: C's period of 31 Oct - 30 Nov is refunded (it now ends on 9 Nov) and C buys a
    # second subscription SK2 the same day. SK2's period comes after SC's latest period
    # (31 Oct), so it reads SC's new end (9 Nov), not the stored one (30 Nov), as the end of
    # C's earlier access: both are extended, and the tables equal the full build's
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    day = transactions(
        "TC4,SC,UC,HK,iOS IAP,PREMIUM_M,com.tally.video.monthly,App Store,Store,refund,"
        "2026-11-09T09:00:00+08:00,2026-10-31T11:00:00+08:00,2026-11-30T11:00:00+08:00,"
        "-68.00,HKD,-47.60",
        "TK1,SK2,UC,HK,Android IAP,PREMIUM_M,tally_video_monthly,Google Play,Store,purchase,"
        "2026-11-09T10:00:00+08:00,2026-11-09T10:00:00+08:00,2026-12-09T10:00:00+08:00,"
        "68.00,HKD,47.60",
    )
    with warehouse.session():
        build_until(context, warehouse, dt.date(2026, 11, 9))
        load_rows(warehouse, TRANSACTIONS_TABLE, day, [dt.date(2026, 11, 9)] * 2)
        incremental.build_day(context, dt.date(2026, 11, 9))
        assert paths["whole"] == set()
        assert {"SC", "SK2"} <= paths["extended"]
        sk2 = "SELECT user_prev_end FROM marts.subscription_periods WHERE subscription_id = 'SK2'"
        assert warehouse.rows(sk2) == [(dt.date(2026, 11, 9),)]
        assert_equals_full_build(context, warehouse)


def test_a_latest_period_after_one_that_grew_gets_the_grown_end(
    warehouse: Warehouse, settings: Settings, tmp_path: Path, paths: dict[str, object]
) -> None:
    # C also bought SK3 on 1 Nov (1 Nov - 1 Dec). On 2 Nov C pays SC's renewal in grace:
    # SC's latest period (from 31 Oct, before SK3's) grows from ending 6 Nov to 30 Nov. SK3
    # has no other period, so only its user_prev_end moves, from 6 Nov to 30 Nov: C is not
    # recomputed whole, SK3 is raised in place, and the tables equal the full build's
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    purchase = transactions(
        "TK3,SK3,UC,HK,Android IAP,PREMIUM_M,tally_video_monthly,Google Play,Store,purchase,"
        "2026-11-01T10:00:00+08:00,2026-11-01T10:00:00+08:00,2026-12-01T10:00:00+08:00,"
        "68.00,HKD,47.60"
    )
    sk3 = "SELECT user_prev_end FROM marts.subscription_periods WHERE subscription_id = 'SK3'"
    with warehouse.session():
        build_until(context, warehouse, dt.date(2026, 11, 2), earlier=purchase)
        assert warehouse.rows(sk3) == [(dt.date(2026, 11, 6),)]
        incremental.build_day(context, dt.date(2026, 11, 2))
        assert paths["whole"] == set()
        assert {"SC", "SK3"} <= paths["extended"]
        assert warehouse.rows(sk3) == [(dt.date(2026, 11, 30),)]
        assert_equals_full_build(context, warehouse)
