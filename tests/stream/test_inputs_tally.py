"""Warehouse pollers: what a ledger row becomes, and cursors that survive a restart."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tally.errors import ConfigError
from tally.stream.engine import Engine
from tally.stream.events import Event
from tally.stream.inputs_tally import HitsPoller, RunsPoller, in_partition_order, run_event
from tally.stream.settings import stream_settings
from tally.warehouse import Warehouse, connect


def test_a_ledger_row_becomes_a_runs_event() -> None:
    ended = dt.datetime(2026, 3, 2, 9, 30)
    row = ("step1", "run1", "load", "itunes", "events", dt.date(2026, 3, 1), ended, "ok",
           200, 190, 10, 4096, None)  # fmt: skip
    event = run_event(row)
    assert (event.source, event.key) == ("tally.runs", "itunes")
    assert event.time == dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC).timestamp()
    # 10 quarantined of 200 read = 5 %
    assert event.values["quarantined_share"] == 0.05 and event.values["failed"] == 0
    assert event.labels["step_key"] == "load:itunes/events"
    assert event.labels["partition_date"] == "2026-03-01"


def test_the_runs_cursor_is_kept_across_a_restart(tmp_path: Path, clock, recorder) -> None:
    url = f"duckdb:///{tmp_path}/warehouse.duckdb"
    store = connect(url)
    store.migrate()
    ended = dt.datetime.fromtimestamp(clock.now - 60, dt.UTC).replace(tzinfo=None)
    for step in ("a", "b"):  # two steps ending at the same moment
        store.execute(
            "INSERT INTO tally_meta.runs (run_id, step_id, job, source, started_at, ended_at, "
            "status) VALUES ('r', ?, 'ingest', 'itunes', ?, ?, 'ok')",
            [step, ended, ended],
        )
    store.close()
    settings = stream_settings({"state_dir": str(tmp_path / "state"), "lake": {"enabled": False}})
    engine = Engine(settings, [], clock=clock)
    assert RunsPoller(engine, lambda: connect(url), 30).run_once() == 2
    engine.checkpoint()
    again = Engine(settings, [], clock=clock)
    again.restore()
    # rows at the cursor's own timestamp are remembered by step id, not read twice
    assert RunsPoller(again, lambda: connect(url), 30).run_once() == 0


def test_hits_poller_refuses_sql_in_identifiers(clock, tmp_path: Path) -> None:
    engine = Engine(stream_settings({"state_dir": str(tmp_path)}), [], clock=clock)
    with pytest.raises(ConfigError, match="plain SQL identifier"):
        HitsPoller(engine, lambda: None, 60, table="web.hits; DROP TABLE x", site_column="idsite",
                   time_column="received_at")  # fmt: skip


class Borrowed:
    """The fixture's warehouse, lent to a poller (which closes what it opens)."""

    def __init__(self, store: Warehouse) -> None:
        self.store = store

    def __getattr__(self, name: str):
        return getattr(self.store, name)

    def close(self) -> None:
        pass


def test_pollers_on_every_backend(warehouse: Warehouse, clock, tmp_path: Path) -> None:
    """The pollers' SQL (date_trunc, CAST, timestamp parameters) on DuckDB and PostgreSQL."""
    clock.now = dt.datetime(2026, 3, 2, 10, 3, 30, tzinfo=dt.UTC).timestamp()
    ended = dt.datetime(2026, 3, 2, 9, 59)
    warehouse.execute(
        "INSERT INTO tally_meta.runs (run_id, step_id, job, source, dataset, started_at, "
        "ended_at, status, rows_in, rows_out) VALUES ('r', 's', 'load', 'itunes', 'events', ?, "
        "?, 'failed', 10, 0)",
        [ended, ended],
    )
    warehouse.execute("CREATE SCHEMA IF NOT EXISTS test_web")
    warehouse.execute("CREATE TABLE test_web.hits (idsite INTEGER, seen TIMESTAMP)")
    for minute, count in ((0, 3), (2, 1)):  # 10:00 three hits, 10:01 none, 10:02 one
        for _ in range(count):
            warehouse.execute("INSERT INTO test_web.hits VALUES (7, ?)",
                              [dt.datetime(2026, 3, 2, 10, minute, 15)])  # fmt: skip
    engine = Engine(stream_settings({"state_dir": str(tmp_path)}), [], clock=clock)
    runs = RunsPoller(engine, lambda: Borrowed(warehouse), 30).poll(warehouse, clock.now)
    assert [(e.key, e.values["failed"], e.labels["step_key"]) for e in runs] == [
        ("itunes", 1.0, "load:itunes/events")
    ]
    hits = HitsPoller(engine, lambda: Borrowed(warehouse), 60, table="test_web.hits",
                      site_column="idsite", time_column="seen")  # fmt: skip
    hits.cursor = {"after": dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC).timestamp(), "sites": []}
    events = hits.poll(warehouse, clock.now)
    # whole minutes 10:00, 10:01, 10:02 (10:03 is not over yet), zeros included
    assert [(e.key, e.values["hits"]) for e in events] == [("7", 3.0), ("7", 0.0), ("7", 1.0)]


def test_days_loaded_side_by_side_reach_the_rules_in_partition_order() -> None:
    """Two days of one dataset loaded side by side ended 30 November after 1 December; a
    build step between them belongs to another key and keeps its place and time."""

    def step(key: str, day: str, time: float) -> Event:
        return Event("tally.runs", "s", time, {}, {"step_key": key, "partition_date": day})

    ended = [
        step("load:s/d", "2026-12-01", 10.0),
        step("build:-/-", "2026-12-01", 10.5),
        step("load:s/d", "2026-11-30", 11.0),
        step("load:s/d", "2026-12-02", 12.0),
    ]
    ordered = in_partition_order(ended)
    assert [(e.labels["step_key"], e.labels["partition_date"], e.time) for e in ordered] == [
        ("load:s/d", "2026-11-30", 10.0),  # takes the first place's time: times keep rising
        ("build:-/-", "2026-12-01", 10.5),
        ("load:s/d", "2026-12-01", 11.0),
        ("load:s/d", "2026-12-02", 12.0),
    ]
    assert [e.time for e in ended] == [10.0, 10.5, 11.0, 12.0]  # the poll's own list untouched
