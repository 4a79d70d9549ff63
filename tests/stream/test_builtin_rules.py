"""Each built-in rule provoked through the poller that feeds it: real ledger rows and hits
in a DuckDB warehouse, a fake clock, and the engine's alert book."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tally.config import load_settings
from tally.stream.builtin_rules import builtin_rules, schedules
from tally.stream.engine import Engine
from tally.stream.inputs_tally import HitsPoller, QueryPoller, RunsPoller
from tally.stream.settings import stream_settings
from tally.warehouse import connect

MONDAY = dt.datetime(2026, 3, 2)  # naive UTC, as the warehouse stores it


def at(day: int, hour: float) -> dt.datetime:
    return MONDAY + dt.timedelta(days=day, hours=hour)


def seconds(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=dt.UTC).timestamp()


@pytest.fixture
def rig(tmp_path: Path, clock, recorder):
    """An engine with the built-in rules, and a way to open a fresh migrated warehouse."""
    url = f"duckdb:///{tmp_path}/warehouse.duckdb"
    store = connect(url)
    store.migrate()
    store.close()
    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path)})
    stream = stream_settings(
        {
            "state_dir": str(tmp_path / "state"),
            "lake": {"enabled": False},
            "schedules": {"itunes": "0 9 * * *"},
            "route": {"receivers": ["ops"], "group_wait": 0},
        }
    )
    engine = Engine(
        stream, builtin_rules(settings, stream), clock=clock, notifiers={"ops": recorder}
    )
    return engine, lambda: connect(url), clock


def add_run(
    opener,
    job: str,
    status: str,
    ended: dt.datetime,
    source: str = "itunes",
    rows_in: int = 100,
    rows_out: int = 100,
    quarantined: int = 0,
    step: str = "",
) -> None:
    warehouse = opener()
    warehouse.execute(
        "INSERT INTO tally_meta.runs (run_id, step_id, job, source, dataset, partition_date, "
        "started_at, ended_at, status, rows_in, rows_out, rows_quarantined, bytes, attempt, error) "
        "VALUES (?, ?, ?, ?, 'events', ?, ?, ?, ?, ?, ?, ?, 0, 1, ?)",
        [
            f"run-{ended:%d%H%M}",
            step or f"{job}-{ended.isoformat()}",
            job,
            source,
            ended.date(),
            ended,
            ended,
            status,
            rows_in,
            rows_out,
            quarantined,
            "BadInputError: boom" if status == "failed" else None,
        ],
    )
    warehouse.close()


def firing(engine: Engine) -> set[str]:
    return {f for f, a in engine.book.alerts.items() if a.state == "firing"}


def test_a_failed_run_fires_and_its_next_success_resolves(rig) -> None:
    engine, opener, clock = rig
    poller = RunsPoller(engine, opener, 30)
    clock.now = seconds(at(0, 10))
    add_run(opener, "load", "failed", at(0, 9))
    assert poller.run_once() == 1
    engine.tick()
    assert "tally_run_failed/load:itunes/events" in firing(engine)
    alert = engine.book.alerts["tally_run_failed/load:itunes/events"]
    assert alert.labels["error"] == "BadInputError: boom" and alert.labels["severity"] == "critical"
    assert poller.run_once() == 0  # the cursor does not repeat rows
    add_run(opener, "load", "ok", at(0, 9.5))
    poller.run_once()
    engine.tick()
    resolved = engine.book.alerts["tally_run_failed/load:itunes/events"]
    assert resolved.state == "resolved"
    assert resolved.summary == "load:itunes/events: the latest run succeeded again"


def test_a_stale_source_fires_after_its_schedule_and_grace(rig) -> None:
    engine, opener, clock = rig
    poller = RunsPoller(engine, opener, 30)
    add_run(opener, "ingest", "ok", at(0, 9.1))  # Monday's landing, on time
    clock.now = seconds(at(1, 11.9))  # Tuesday 11:54: 09:00 + 3 h grace not over
    poller.run_once()
    engine.tick()
    assert "tally_source_stale/itunes" not in firing(engine)
    clock.now = seconds(at(1, 12.5))  # Tuesday 12:30: Tuesday's landing is overdue
    engine.tick()
    assert "tally_source_stale/itunes" in firing(engine)
    assert engine.book.alerts["tally_source_stale/itunes"].labels["source"] == "itunes"


def test_an_unusual_row_count_fires_and_a_stale_source_inhibits_it(rig) -> None:
    engine, opener, clock = rig
    poller = RunsPoller(engine, opener, 30)
    # five ordinary days of about 1000 rows, then 200
    for day, rows in enumerate([1000, 1010, 990, 1000, 1005, 200]):
        add_run(opener, "load", "ok", at(day, 10), rows_in=rows, rows_out=rows)
    clock.now = seconds(at(5, 11))
    poller.run_once()
    engine.tick()
    assert "tally_load_rows_unusual/itunes/events" in firing(engine)
    # baseline ~1000 with a 10 % floor on the spread: (200 - 1000) / 100 is about -8
    assert engine.book.alerts["tally_load_rows_unusual/itunes/events"].value < -4
    # no ingest ever landed: the source is stale, so its volume alert is muted
    assert "tally_source_stale/itunes" in firing(engine)
    sent = {a["fingerprint"] for n in engine.book.flush(clock.now) for a in n["alerts"]}
    alert = engine.book.alerts["tally_load_rows_unusual/itunes/events"]
    assert engine.book.muted(alert, clock.now) == "inhibited"
    assert "tally_load_rows_unusual/itunes/events" not in sent


def test_quarantine_share_above_the_threshold_fires(rig) -> None:
    engine, opener, clock = rig
    clock.now = seconds(at(0, 12))
    # 6 of 100 rows quarantined = 6 % > the default threshold of 5 %
    add_run(opener, "load", "ok", at(0, 10), rows_in=100, rows_out=94, quarantined=6)
    RunsPoller(engine, opener, 30).run_once()
    engine.tick()
    alert = engine.book.alerts["tally_quarantine_share/itunes/events"]
    assert alert.state == "firing" and alert.value == pytest.approx(0.06)


def test_a_traffic_drop_for_this_hour_fires(rig) -> None:
    engine, opener, clock = rig
    warehouse = opener()
    warehouse.execute("CREATE SCHEMA IF NOT EXISTS test_web")
    warehouse.execute("CREATE TABLE test_web.hits (idsite INTEGER, seen TIMESTAMP)")
    # site 1: 10:00-11:00 on four days has 4 hits a minute; on the fifth only 1 a minute
    for day in range(5):
        warehouse.execute(
            "INSERT INTO test_web.hits SELECT 1, ? + to_minutes(m.range) "
            "FROM range(60) m, range(?) n",
            [at(day, 10), 4 if day < 4 else 1],
        )
    warehouse.close()
    poller = HitsPoller(
        engine, opener, 60, table="test_web.hits", site_column="idsite", time_column="seen"
    )
    for day in range(5):
        poller.cursor = {"after": seconds(at(day, 10)), "sites": poller.cursor and ["1"] or []}
        clock.now = seconds(at(day, 11)) + 60
        poller.run_once()
        # 15-minute windows at 10:00, 10:15, 10:30, 10:45: 60 hits each on normal days
        engine.tick()
        if day < 4:
            assert "tally_traffic_drop/1" not in firing(engine)
    alert = engine.book.alerts["tally_traffic_drop/1"]
    # baseline 60 hits per window, spread floored at 10 % (6): (15 - 60) / 6 = -7.5
    assert alert.state == "firing" and alert.value == pytest.approx(-7.5)
    assert alert.labels["idsite"] == "1"


def test_a_subscriber_gap_beyond_tolerance_fires(rig) -> None:
    engine, opener, clock = rig
    warehouse = opener()
    warehouse.execute(
        "CREATE TABLE main.subscriber_counts (store VARCHAR, day DATE, tally BIGINT, apple BIGINT)"
    )
    warehouse.execute(
        "INSERT INTO main.subscriber_counts VALUES "
        "('itunes', '2026-03-01', 1000, 1010), ('google-play', '2026-03-01', 960, 1000)"
    )
    warehouse.close()
    poller = QueryPoller(
        engine, opener, 300, sql="SELECT store, day, tally, apple FROM main.subscriber_counts"
    )
    poller.run_once()
    engine.tick()
    # |1000 - 1010| / 1010 = 1 % (within 2 %); |960 - 1000| / 1000 = 4 %
    assert firing(engine) & {"tally_subscriber_gap/itunes", "tally_subscriber_gap/google-play"} == {
        "tally_subscriber_gap/google-play"
    }


def test_schedules_default_to_each_sources_own() -> None:
    settings = load_settings(environ={"TALLY_SOURCES__GOOGLE_PLAY__SCHEDULE": "30 6 * * *"})
    found = schedules(settings, stream_settings({}))
    assert found == {"itunes": "CRON_TZ=America/Los_Angeles 0 9 * * *", "google-play": "30 6 * * *"}


def test_cumulative_datasets_are_the_ones_the_sources_declare() -> None:
    from tally.sources import all_datasets

    declared = {d.key for d in all_datasets().values() if d.cumulative}
    assert declared == set(stream_settings({}).cumulative_datasets)
    assert "google-play/subscription-statistics" in declared


@pytest.fixture(scope="module")
def month_start_demo(tmp_path_factory):
    """The demo's ledger for eight days ending 3 December, on two month-to-date datasets and
    a daily one (run once for the module: the demo's build is most of its cost)."""
    from tally.pipeline.context import open_context
    from tally.pipeline.demo import run_demo
    from tally.sources import get_dataset

    folder = tmp_path_factory.mktemp("month-start-demo")
    settings = load_settings(environ={"TALLY_DATA_DIR": str(folder)})
    chosen = [
        get_dataset("google-play", "subscription-statistics"),
        get_dataset("google-drive", "telco-performance"),
        get_dataset("itunes", "subscription-events"),
    ]
    context = open_context(settings)
    run_demo(context, days=8, seed=7, end=dt.date(2026, 12, 3), datasets=chosen)
    context.warehouse.close()
    return settings, folder


@pytest.mark.parametrize("knows_cumulative", [True, False])
def test_no_alert_after_a_demo_across_a_month_start(month_start_demo, clock, knows_cumulative):
    """The demo's month-to-date files (Google Play statistics, the telco sheet) grow a day's
    rows each day and restart on the 1st; a daily dataset stays about level. The EWMA
    baseline warms up on 26-30 November, then on 1 December the month-to-date counts fall to
    a thirtieth. Knowing them, the rules stay quiet; not knowing them (the list emptied) the
    drop fires, so this test can fail."""
    settings, folder = month_start_demo
    raw = {"state_dir": str(folder / f"state-{knows_cumulative}"), "lake": {"enabled": False}}
    if not knows_cumulative:
        raw["cumulative_datasets"] = []
    stream = stream_settings(raw)
    engine = Engine(stream, builtin_rules(settings, stream), clock=clock, notifiers={})
    url = settings.warehouse_url
    clock.now = dt.datetime.now(dt.UTC).timestamp()
    assert RunsPoller(engine, lambda: connect(url), 30).run_once() > 0
    engine.tick()
    if knows_cumulative:
        assert firing(engine) == set()
    else:
        assert "tally_load_rows_unusual/google-play/subscription-statistics" in firing(engine)
