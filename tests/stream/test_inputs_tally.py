"""Warehouse pollers: what a ledger row becomes, and cursors that survive a restart."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tally.errors import ConfigError
from tally.stream.engine import Engine
from tally.stream.inputs_tally import HitsPoller, RunsPoller, run_event
from tally.stream.settings import stream_settings
from tally.warehouse import connect


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
