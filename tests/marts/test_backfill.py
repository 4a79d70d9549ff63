"""Backfill: reloading days from the lake gives exactly the tables a full rebuild gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tally.cli.main import app
from tally.config import Settings, load_settings
from tally.errors import ConfigError
from tally.pipeline.backfill import backfill, days_between, downstream
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context, open_context
from tally.pipeline.ingest import dataset_key, land
from tally.pipeline.load import load
from tally.sources.demo import DemoWorld
from tally.sources.viu_premium import SubscriberStatus, Transactions

from .conftest import SUBSCRIBER_MODELS

FIRST = dt.date(2026, 10, 20)
DAYS = days_between(FIRST, FIRST + dt.timedelta(days=9))
DATASETS = (SubscriberStatus(), Transactions())


def landed_context(tmp_path: Path) -> Context:
    """Two weeks of demo exports landed in the lake, loaded and built: the full rebuild."""
    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path / "data")})
    context = open_context(settings)
    world = DemoWorld(11, DAYS[0], DAYS[-1], scale=0.03)
    with context.warehouse.session():  # one connection (DuckDB reopens per call otherwise)
        for day in DAYS:
            for dataset in DATASETS:
                land(context, dataset, day, dataset.sample(day, world))
                load(context, dataset, day)
        build(context, subscriber_models())
    return context


def subscriber_models() -> list:
    return [m for m in discover_models() if m.table in SUBSCRIBER_MODELS]


def snapshot(context: Context) -> dict[str, list[tuple]]:
    return {
        table: sorted(context.warehouse.rows(f"SELECT * FROM {table}"), key=repr)
        for table in SUBSCRIBER_MODELS
    }


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Context, dict[str, list[tuple]]]:
    context = landed_context(tmp_path_factory.mktemp("backfill"))
    return context, snapshot(context)


@hypothesis_settings(
    max_examples=2,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # a failing example is clear enough; no shrinking
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    first=st.integers(min_value=0, max_value=len(DAYS) - 1),
    length=st.integers(min_value=1, max_value=5),
)
def test_backfill_of_a_range_equals_the_full_rebuild(full, first: int, length: int) -> None:
    context, expected = full
    start, end = DAYS[first], DAYS[min(first + length, len(DAYS)) - 1]
    # lose the range's staging partitions and rebuild: the marts are now wrong
    for dataset in DATASETS:
        context.warehouse.execute(
            f"DELETE FROM {dataset.staging_table} WHERE _partition_date BETWEEN ? AND ?",
            [start, end],
        )
    build(context, subscriber_models())
    assert snapshot(context) != expected
    outcome = backfill(context, start, end, sources=["viu-premium"])
    assert outcome.ok and not outcome.skipped
    assert len(outcome.loaded) == 2 * len(days_between(start, end))
    assert snapshot(context) == expected


def test_backfill_writes_a_ledger_row_per_step_and_reports_progress(full) -> None:
    context, _ = full
    seen: list[tuple[str, int, int]] = []
    outcome = backfill(context, DAYS[2], DAYS[3], ["viu-premium"], lambda *step: seen.append(step))
    assert [s[1] for s in seen] == [1, 2, 3, 4, 5] and seen[-1] == ("build", 5, 5)
    rows = context.warehouse.rows(
        "SELECT job, count(*), min(status), max(status) FROM tally_meta.runs WHERE run_id = ? "
        "AND job IN ('backfill', 'load') GROUP BY job ORDER BY job",
        [outcome.run_id],
    )
    # one backfill row and a load row per dataset and day
    assert rows == [("backfill", 1, "ok", "ok"), ("load", 4, "ok", "ok")]
    # a build row per model downstream of the reloaded tables: the subscriber marts built,
    # marts of sources not loaded here (CMS, store reports, ...) skipped
    built = dict(
        context.warehouse.rows(
            "SELECT dataset, status FROM tally_meta.runs WHERE run_id = ? AND job = 'build'",
            [outcome.run_id],
        )
    )
    staging = {dataset.staging_table for dataset in DATASETS}
    assert set(built) == {m.table for m in downstream(discover_models(), staging)}
    assert all(built[table] == "ok" for table in SUBSCRIBER_MODELS)
    assert built["marts.content_window"] == "skipped"


def test_downstream_models_follow_the_reads() -> None:
    models = discover_models()
    chosen = {m.table for m in downstream(models, {"staging.viu_premium_transactions"})}
    assert set(SUBSCRIBER_MODELS) <= chosen
    assert "marts.itunes_daily_subscription_events" not in chosen


def test_bad_ranges_and_sources_are_config_errors(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="after --to"):
        days_between(dt.date(2026, 11, 2), dt.date(2026, 11, 1))
    context = open_context(settings)
    with pytest.raises(ConfigError, match="unknown source"):
        backfill(context, DAYS[0], DAYS[1], ["no-such-source"])


def test_cli_backfill(full, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same raw files reloaded give the same figures: the reports on record dated from
    --from on are checked and none is written again."""
    from tally.reports.subscription import write_all_reports

    context, expected = full
    monkeypatch.setenv("TALLY_DATA_DIR", context.settings.data_dir)
    reports, _ = write_all_reports(context.warehouse, context.settings, DAYS[3], only_changed=True)
    before = {r.location: Path(r.location).read_bytes() for r in reports}
    result = CliRunner().invoke(
        app, ["backfill", "--from", "2026-10-21", "--to", "2026-10-22", "--source", "viu-premium"]
    )
    assert result.exit_code == 0, result.output
    assert "reloaded 4 partition(s)" in result.output
    assert "marts.report_fact: ok" in result.output
    assert snapshot(context) == expected
    assert "report written" not in result.output
    assert f"reports unchanged: {len(before)} " in result.output, result.output
    assert {location: Path(location).read_bytes() for location in before} == before


def test_a_failing_partition_does_not_stop_the_others(full) -> None:
    context, expected = full
    bad_day = DAYS[5]
    transactions = DATASETS[1]
    good = {
        name: context.lake.get(dataset_key(transactions, bad_day, name))
        for name in transactions.file_names(bad_day, context.settings)
    }
    land(context, transactions, bad_day, dict.fromkeys(good, b"\xff\xfe garbage"), force=True)
    try:
        outcome = backfill(context, DAYS[4], DAYS[6], ["viu-premium"])
    finally:
        land(context, transactions, bad_day, good, force=True)  # the lake keeps both versions
    assert list(outcome.failed) == [f"viu-premium/transactions {bad_day}"]
    assert "rows are bad" in outcome.failed[f"viu-premium/transactions {bad_day}"]
    assert len(outcome.loaded) == 5
    status = context.warehouse.rows(
        "SELECT status, error FROM tally_meta.runs WHERE run_id = ? AND job = 'backfill'",
        [outcome.run_id],
    )[0]
    assert status[0] == "failed" and "1 partition(s) failed" in status[1]
    # the failed partition kept its previous contents, so the marts are unchanged
    assert snapshot(context) == expected
