"""The daily build after an upgrade of tally, or a change of the settings the marts read:
the models whose definition changed since the stored build (and the models reading them)
are rebuilt fully, the others stay daily, and the tables are the full build's."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from tally.config import Settings
from tally.lake import Lake
from tally.pipeline import incremental
from tally.pipeline.build import Model, build
from tally.pipeline.context import Context
from tally.pipeline.fingerprints import (
    NO_FINGERPRINT,
    SETTINGS_CHANGED,
    SQL_CHANGED,
    changed,
    fingerprints,
)
from tally.pipeline.incremental import build_day
from tally.warehouse import Warehouse

from .conftest import SUBSCRIBER_MODELS, TRANSACTIONS_TABLE, load_rows
from .test_incremental import build_until, fixture_rows, snapshot, subscriber_models

# 4 Nov: E's purchase is refunded (an earlier period is cut); 6 Nov the last transactions
LAST = dt.date(2026, 11, 4)
NEXT = dt.date(2026, 11, 6)
# the models upstream of marts.subscriber_total, which its change does not reach
UPSTREAM = (
    "staging.viu_premium_transactions_latest",
    "marts.subscription_bounds",
    "marts.refund_transactions",
    "marts.subscription_periods",
    "marts.revenue_daily",
    "marts.subscription_last_periods",
    "marts.subscription_spans",
)
# marts.subscriber_total and every model reading it, directly or not
DOWNSTREAM = (
    "marts.subscriber_daily",
    "marts.subscriber_weekly",
    "marts.subscriber_monthly",
    "marts.report_fact",
)


def upgraded(models: list[Model]) -> list[Model]:
    """The models as a newer tally would have them: ``marts.subscriber_total`` with one more
    column (as ``_user_hash`` was added to a model), its text and range otherwise the same."""
    found = []
    for model in models:
        if model.table == "marts.subscriber_total":
            sql = f"SELECT *, 0 AS _added FROM (\n{model.sql}\n) AS upgraded"
            model = dataclasses.replace(model, sql=sql)
        found.append(model)
    return found


def ledger_notes(warehouse: Warehouse, run_id: str) -> dict[str, str | None]:
    """model → the note of its build step in the run (only models built whole have one)."""
    rows = warehouse.rows(
        "SELECT dataset, note FROM tally_meta.runs WHERE run_id = ? AND job = 'build'", [run_id]
    )
    return {str(dataset): note for dataset, note in rows}


def load_next_day(warehouse: Warehouse) -> None:
    rows, days = fixture_rows("transactions.csv", TRANSACTIONS_TABLE)
    newest = pa.array([d == NEXT for d in days])
    load_rows(warehouse, TRANSACTIONS_TABLE, rows.filter(newest), [NEXT] * sum(newest.to_pylist()))


def test_a_model_with_a_new_column_is_rebuilt_fully_with_what_reads_it(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    # the warehouse was built by the older tally; the newer one's subscriber_total has one
    # more column: the daily build must not fail on it, rebuild it and the 4 models reading
    # it fully, keep the 7 upstream ones daily, and end with the full build's tables
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    newer = upgraded(subscriber_models())
    with warehouse.session():
        build_until(context, warehouse, LAST)
        outcome = build_day(context, LAST, run_id="upgrade", chosen=newer)
        assert outcome["marts.subscriber_total"] == f"ok, rebuilt fully: {SQL_CHANGED}"
        for table in DOWNSTREAM:
            assert outcome[table].startswith("ok, rebuilt fully: it reads marts."), table
        for table in UPSTREAM:
            assert outcome[table].startswith("incremental"), (table, outcome[table])
        notes = ledger_notes(warehouse, "upgrade")
        assert notes["marts.subscriber_total"] == f"rebuilt fully: {SQL_CHANGED}"
        assert notes["marts.subscriber_daily"] == (
            "rebuilt fully: it reads marts.subscriber_total, rebuilt fully"
        )
        assert "_added" in warehouse.columns("marts.subscriber_total")
        daily = snapshot(warehouse)
        build(context, newer)
        assert daily == snapshot(warehouse)


def test_without_the_check_the_upgraded_daily_build_fails(
    warehouse: Warehouse, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the hazard the check removes, shown: with every model taken as unchanged, the daily
    # build inserts the new model's rows (one more column) into the stored table
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    monkeypatch.setattr(incremental, "changed", lambda *arguments: {})
    with warehouse.session():
        build_until(context, warehouse, LAST)
        with pytest.raises(Exception, match=r"(?i)column"):
            build_day(context, LAST, chosen=upgraded(subscriber_models()))


def test_a_warehouse_built_before_fingerprints_takes_the_full_build_and_says_so(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    # the stored build has no fingerprints (as one made by a tally from before them): the
    # daily build is the full build, each model saying why; it stores the fingerprints, so
    # the next day's build is daily again
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    with warehouse.session():
        build_until(context, warehouse, LAST)
        warehouse.execute("DELETE FROM tally_meta.model_fingerprints")
        outcome = build_day(context, LAST, run_id="first", chosen=subscriber_models())
        for table in SUBSCRIBER_MODELS:
            assert outcome[table] == f"ok, rebuilt fully: {NO_FINGERPRINT}", table
        notes = ledger_notes(warehouse, "first")
        assert f"incremental {LAST}" not in notes  # the daily step never ran
        assert notes["marts.subscriber_total"] == f"rebuilt fully: {NO_FINGERPRINT}"
        load_next_day(warehouse)
        outcome = build_day(context, NEXT, run_id="second", chosen=subscriber_models())
        assert outcome["marts.subscriber_total"].startswith("incremental from"), outcome
        assert not any("rebuilt fully" in o for o in outcome.values()), outcome
        daily = snapshot(warehouse)
        build(context, subscriber_models())
        assert daily == snapshot(warehouse)


def test_an_unchanged_warehouse_stays_daily(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    with warehouse.session():
        build_until(context, warehouse, LAST)
        outcome = build_day(context, LAST, run_id="same", chosen=subscriber_models())
        # every subscriber model is ranged: none is built whole, none says it was
        assert all(outcome[t].startswith("incremental") for t in SUBSCRIBER_MODELS), outcome
        notes = ledger_notes(warehouse, "same")
        assert notes == {f"incremental {LAST}": None}


def test_a_changed_setting_rebuilds_the_models_reading_it_fully(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    # trials counted in the Active subscriber stock from now on: every stored day of the
    # models reading marts.dim_country (periods, revenue, daily, report) and of the models
    # reading those changes, not only the new days; the ones reading no setting stay daily
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    marts = settings.marts.model_copy(update={"trials_in_active": True})
    trials = Context(settings.model_copy(update={"marts": marts}), warehouse, context.lake)
    with warehouse.session():
        build_until(context, warehouse, LAST)
        outcome = build_day(trials, LAST, chosen=subscriber_models())
        assert outcome["marts.subscription_periods"] == f"ok, rebuilt fully: {SETTINGS_CHANGED}"
        assert outcome["marts.subscriber_total"] == (
            "ok, rebuilt fully: it reads marts.subscription_spans, rebuilt fully"
        )
        for table in ("marts.subscription_bounds", "marts.refund_transactions"):
            assert outcome[table].startswith("incremental"), outcome[table]
        daily = snapshot(warehouse)
        build(trials, subscriber_models())
        assert daily == snapshot(warehouse)
        # the setting does change the fixture's figures (J's trial), so a daily build that
        # kept the stored days would have differed
        build(context, subscriber_models())
        assert daily != snapshot(warehouse)


def test_a_fingerprint_moves_with_the_sql_its_inputs_and_the_settings_read(
    settings: Settings,
) -> None:
    models = subscriber_models()
    before = fingerprints(models, settings, {})
    after = fingerprints(upgraded(models), settings, {})
    moved = {t for t in before if before[t].whole != after[t].whole}
    assert moved == {"marts.subscriber_total", *DOWNSTREAM}
    assert {t for t in before if before[t].sql != after[t].sql} == {"marts.subscriber_total"}
    # the same texts give the same fingerprints, in any order of the models
    assert fingerprints(list(reversed(models)), settings, {}) == before
    # a setting reaches the models reading marts.dim_country only
    other = settings.model_copy(
        update={"marts": settings.marts.model_copy(update={"attribution_window_days": 9})}
    )
    reading = {
        t for t, f in fingerprints(models, other, {}).items() if f.settings != before[t].settings
    }
    readers = {m.table for m in models if "marts.dim_country" in m.reads}
    assert reading == readers and "marts.subscription_bounds" not in readers


def test_changed_names_only_models_whose_table_is_there(settings: Settings) -> None:
    models = subscriber_models()
    current = fingerprints(models, settings, {})
    stored = {t: f.hashes() for t, f in current.items()}
    everything = set(SUBSCRIBER_MODELS)
    assert changed(current, stored, models, everything) == {}
    del stored["marts.subscriber_weekly"]
    # its table not there either (a mart added since): it is built whole anyway and says
    # nothing, the model reading it says why it is rebuilt whole too
    missing = everything - {"marts.subscriber_weekly"}
    assert changed(current, stored, models, missing) == {
        "marts.report_fact": "it reads marts.subscriber_weekly, not built before"
    }
    assert changed(current, stored, models, everything) == {
        "marts.subscriber_weekly": NO_FINGERPRINT,
        "marts.report_fact": "it reads marts.subscriber_weekly, rebuilt fully",
    }


def test_a_model_built_alone_counts_its_inputs_as_stored(settings: Settings) -> None:
    # a model built on its own (tally build of one model, a mart added later) reads its
    # inputs' tables as they stand: their stored fingerprints, the ones the daily build
    # computes from the full set when nothing changed
    models = subscriber_models()
    everything = fingerprints(models, settings, {})
    stored = {t: f.hashes() for t, f in everything.items() if t != "marts.report_fact"}
    report = [m for m in models if m.table == "marts.report_fact"]
    alone = fingerprints(report, settings, stored)
    assert alone == {"marts.report_fact": everything["marts.report_fact"]}


def test_a_new_hash_function_moves_the_models_calling_it(settings: Settings) -> None:
    # a model storing hash(...) values (the latest copies' _transaction_hash,
    # subscription_mrr.segment_id) is only right beside values of the same function: a new
    # DuckDB may hash differently, so the function is part of those models' fingerprints
    models = subscriber_models()
    before = fingerprints(models, settings, {}, "duckdb 1.0 hash")
    after = fingerprints(models, settings, {}, "duckdb 9.9 hash")
    calling = {m.table for m in models if "hash(" in m.sql.lower()}
    assert "staging.viu_premium_transactions_latest" in calling
    assert {t for t in before if before[t].sql != after[t].sql} == calling
    # the models that call no hash but read one that does are rebuilt through it
    assert "marts.subscription_bounds" not in calling
    assert before["marts.subscription_bounds"].sql == after["marts.subscription_bounds"].sql
    # and the same function gives the same fingerprints
    assert fingerprints(models, settings, {}, "duckdb 1.0 hash") == before


def test_a_warehouse_with_another_hash_function_rebuilds_the_hashing_models_fully(
    warehouse: Warehouse, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # built by one engine version, built daily by another whose hash() differs: the models
    # calling it are rebuilt fully (their stored hashes would not match the new ones), and
    # the tables are the full build's
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    with warehouse.session():
        build_until(context, warehouse, LAST)
        newer = dataclasses.replace(warehouse.capabilities, hash_function="another hash")
        monkeypatch.setattr(warehouse, "capabilities", newer)
        outcome = build_day(context, LAST, run_id="engine", chosen=subscriber_models())
        assert outcome["staging.viu_premium_transactions_latest"] == (
            f"ok, rebuilt fully: {SQL_CHANGED}"
        )
        daily = snapshot(warehouse)
        build(context, subscriber_models())
        assert daily == snapshot(warehouse)
