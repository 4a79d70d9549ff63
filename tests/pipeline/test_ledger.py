"""The run ledger's owner check: a step whose process was killed is marked abandoned by the
next tally command; steps of live processes, of other hosts and of old rows are left alone."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tally.config import load_settings
from tally.pipeline.ledger import Ledger, abandon_dead_steps, new_run_id, owner, owner_alive
from tally.server.metrics import exposition
from tally.server.ui.elt import overview_panels
from tally.warehouse import from_settings

SRC = Path(__file__).parents[2] / "src"

# A load step that never ends: it prints once its `running` row is written, then waits.
STEP = """
import sys, time
from tally.config import load_settings
from tally.pipeline.context import open_context
from tally.pipeline.ledger import Ledger, new_run_id
context = open_context(load_settings())
with Ledger(context.warehouse).step(new_run_id(), "load", "itunes", sys.argv[1]):
    print("running", flush=True)
    time.sleep(600)
"""


def _environment(data: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    return {**keep, "TALLY_DATA_DIR": str(data), "PYTHONPATH": str(SRC)}


def _start_step(data: Path, dataset: str) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", STEP, dataset],
        env=_environment(data),
        cwd=data,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "running"
    return child


def test_a_step_killed_with_sigkill_is_abandoned_at_the_next_command(tmp_path: Path) -> None:
    killed = _start_step(tmp_path, "subscription-events")
    alive = _start_step(tmp_path, "sales")
    try:
        os.kill(killed.pid, signal.SIGKILL)
        assert killed.wait(10) == -signal.SIGKILL
        # the next tally command, in a process of its own: `tally status --json`
        answer = subprocess.run(
            [sys.executable, "-c", "from tally.cli.main import main; main()", "status", "--json"],
            env=_environment(tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert answer.returncode == 0, answer.stderr
        steps = {s["dataset"]: s for s in json.loads(answer.stdout)}
        assert steps["subscription-events"]["status"] == "abandoned"
        assert (
            f"process {killed.pid} on {socket.gethostname()} ended without finishing"
            in (steps["subscription-events"]["error"])
        )
        assert steps["sales"]["status"] == "running"  # its process still runs
    finally:
        alive.kill()
        alive.wait(10)
    # shown so on the ELT dashboard and in /metrics
    warehouse = from_settings(load_settings(environ={"TALLY_DATA_DIR": str(tmp_path)}))
    panels = {panel.key: panel for panel in overview_panels(warehouse, 7)}
    assert [row[-2] for row in panels["failures"].rows] == ["abandoned"]
    assert "abandoned" in panels["runs"].columns
    # recent runs: one step each, the killed one abandoned, the other one running
    assert sorted(tuple(row[5:7]) for row in panels["recent"].rows) == [(0, 1), (1, 0)]
    text = exposition(warehouse).decode()
    abandoned = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tally_run_steps_total" and sample.labels["status"] == "abandoned"
    ]
    assert abandoned == [1]
    # the live step's process is gone now too: the next sweep takes it
    assert abandon_dead_steps(warehouse) == 1


def test_only_owners_known_to_be_gone_count_as_dead(tmp_path: Path) -> None:
    host, pid, started = owner()
    assert owner_alive(host, pid, started)
    assert started is not None and not owner_alive(host, pid, started - 1)  # a reused pid
    assert owner_alive("another-host", 2**22 + 1, None)  # cannot be seen from here
    assert owner_alive(host, None, None)  # a row from before steps named their owner
    warehouse = from_settings(load_settings(environ={"TALLY_DATA_DIR": str(tmp_path)}))
    with Ledger(warehouse).step(new_run_id(), "build"):
        assert abandon_dead_steps(warehouse) == 0  # our own step, in progress
    row = warehouse.rows("SELECT status, owner_host, owner_pid FROM tally_meta.runs")
    assert row == [("ok", host, pid)]


def test_steps_of_other_hosts_are_judged_by_their_heartbeat(warehouse, monkeypatch) -> None:
    """Another host's process cannot be looked up, so its step counts as dead once its
    heartbeat is older than STALE_SECONDS (300 s): 301 s old -> abandoned; 60 s old, or a
    row with no heartbeat (written before heartbeats), -> left running."""
    from tally.pipeline import ledger

    now = ledger.utc_now()
    rows = [
        ("stale", now - dt.timedelta(seconds=ledger.STALE_SECONDS + 1)),
        ("beating", now - dt.timedelta(seconds=60)),
        ("old-row", None),
    ]
    for step_id, heartbeat_at in rows:
        warehouse.execute(
            "INSERT INTO tally_meta.runs (run_id, step_id, job, started_at, status, "
            "owner_host, owner_pid, owner_started, heartbeat_at) "
            "VALUES ('r', ?, 'build', ?, 'running', 'another-host', 4242, 1, ?)",
            [step_id, now - dt.timedelta(hours=1), heartbeat_at],
        )
    assert abandon_dead_steps(warehouse) == 1
    found = dict(warehouse.rows("SELECT step_id, status FROM tally_meta.runs"))
    assert found == {"stale": "abandoned", "beating": "running", "old-row": "running"}
    error = warehouse.rows("SELECT error FROM tally_meta.runs WHERE step_id = 'stale'")[0][0]
    assert "another-host" in error and "heartbeat" in error


def test_a_running_step_beats_where_hosts_share_the_warehouse(warehouse, monkeypatch) -> None:
    """With a beat every 50 ms, a step that runs 0.4 s has moved its heartbeat past its
    start on a warehouse several hosts can share; a DuckDB file (one writing process) has
    no heartbeat thread, so there the heartbeat stays at the start."""
    import time

    from tally.pipeline import ledger

    monkeypatch.setattr(ledger, "HEARTBEAT_SECONDS", 0.05)
    with Ledger(warehouse).step(new_run_id(), "build"):
        time.sleep(0.4)
    started, beat = warehouse.rows("SELECT started_at, heartbeat_at FROM tally_meta.runs")[0]
    if warehouse.capabilities.single_writer_process:
        assert beat == started
    else:
        assert beat - started >= dt.timedelta(seconds=0.1)
    assert not any(t.name == "tally-heartbeat" for t in threading.enumerate())


def test_a_step_finished_inside_its_transaction_commits_or_fails_with_it(warehouse) -> None:
    """``finish`` as the transaction's last statement: committed, the step is ``ok`` with
    the rows said before it, and the block's end writes nothing more (its ended_at is
    the one ``finish`` wrote); rolled back (the commit or anything after failing), the
    block's end marks it failed, not left running."""
    ledger = Ledger(warehouse)
    with ledger.step(new_run_id(), "build", dataset="committed") as step:
        with warehouse.transaction():
            step.rows_out = 12
            ledger.finish(step)
            written = step.ended_at
    with warehouse.session():
        warehouse.execute("CREATE TABLE IF NOT EXISTS side (a INTEGER)")
    try:
        with ledger.step(new_run_id(), "build", dataset="rolled back") as step:
            with warehouse.transaction():
                warehouse.execute("INSERT INTO side VALUES (1)")
                ledger.finish(step)
                raise RuntimeError("the commit failed")
    except RuntimeError:
        pass
    found = {
        dataset: (status, rows_out, ended_at, error)
        for dataset, status, rows_out, ended_at, error in warehouse.rows(
            "SELECT dataset, status, rows_out, ended_at, error FROM tally_meta.runs"
        )
    }
    assert found["committed"][:3] == ("ok", 12, written)
    status, _, _, error = found["rolled back"]
    assert (status, error) == ("failed", "RuntimeError: the commit failed")
    assert warehouse.rows("SELECT count(*) FROM side") == [(0,)]  # the work went too
