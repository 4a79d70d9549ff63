"""Every command in an empty data directory: it works or says what is wrong in one line, with
exit code 2 (bad input, nothing to work on yet) or 3 (transient), never a traceback."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from tally.cli.core import context
from tally.cli.main import app
from tally.pipeline.demo import run_demo
from tally.sources import all_datasets

runner = CliRunner()

# Each command with the least it needs. Left out: `demo` (it fills the directory; see
# test_core), `serve` and `stream` without --check (they run until stopped).
ARGUMENTS = {
    "config": [],
    "ingest": ["itunes", "subscription-events", "--date", "2016-10-23"],
    "load": ["itunes", "--date", "2016-10-23"],
    "build": [],
    "query": ["select count(*) from marts.report_fact"],
    "status": [],
    "run": ["itunes", "--date", "2016-10-23", "--no-fetch"],
    "backfill": ["itunes", "--from", "2016-10-01", "--to", "2016-10-02"],
    "scheduler": ["--once"],
    "pivot": ['=GETPIVOTDATA("value",$A$1,"type","Active subscriber")'],
    "stream": ["--check"],
    "web-report": ["VisitsSummary.get", "--site", "1"],
    "lake ls": ["itunes"],
    "report subscription": ["--country", "HK", "--period", "daily", "--date", "2016-10-23"],
    "report all": ["--date", "2016-10-23"],
    "report yellow": ["--country", "HK", "--period", "weekly", "--date", "2016-10-23"],
    "report ad": ["--country", "HK", "--date", "2016-10-23"],
    "report telco": ["--country", "HK", "--date", "2016-10-23"],
    "report content-window": ["--country", "SG", "--date", "2016-10-23"],
    "token list": [],
    "token revoke": ["nobody"],
    "sources": [],
    "sources check": ["itunes"],
    "alerts": [],
    "alerts expire": ["no-such-silence"],
    "alerts notifications": [],
    "user list": [],
    "user grant": ["nobody", "--site", "1"],
    "user revoke": ["nobody", "--site", "1"],
    "user delete": ["nobody"],
    "site list": [],
    "site edit": ["--site", "1", "--name", "Shop"],
    "goal list": [],
    "goal edit": ["--site", "1", "--goal", "1", "--name", "Buy"],
    "goal delete": ["--site", "1", "--goal", "1"],
    "web sessionize": [],
}


@pytest.mark.parametrize("command", sorted(ARGUMENTS))
def test_no_traceback_in_an_empty_data_directory(workdir, command: str) -> None:
    result = runner.invoke(app, [*command.split(), *ARGUMENTS[command]])
    shown = result.output + (result.stderr if result.stderr_bytes else "")
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{command}: {type(result.exception).__name__}: {result.exception}\n{shown}"
    )
    assert "Traceback" not in shown, shown
    assert result.exit_code in (0, 1, 2, 3), shown
    if result.exit_code in (2, 3):
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and errors[0].startswith("error: "), shown


def test_report_before_any_build_is_one_line_exit_2(workdir) -> None:
    result = runner.invoke(app, ["report", "subscription", *ARGUMENTS["report subscription"]])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "tally demo" in result.stderr, result.stderr


def test_source_and_dataset_are_positional_and_the_old_option_still_works(workdir) -> None:
    day = ["--date", "2016-10-24"]
    # only iTunes' demo day: the commands below read no other source (a whole `tally demo`,
    # every source, its web traffic and its reports, was most of this test's time)
    itunes = [dataset for dataset in all_datasets().values() if dataset.source == "itunes"]
    landed = context()
    try:
        run_demo(landed, days=1, seed=5, end=dt.date(2016, 10, 24), datasets=itunes)
    finally:
        landed.warehouse.close()
    new = runner.invoke(app, ["load", "itunes", "subscription-events", *day])
    assert new.exit_code == 0, new.output
    assert [line.split(":")[0] for line in new.stdout.splitlines()] == [
        "loaded itunes/subscription-events 2016-10-24"
    ]
    old = runner.invoke(app, ["load", "--source", "itunes", *day])
    assert old.exit_code == 0, old.output
    assert "--source is deprecated" in old.stderr
    assert {line.split()[1] for line in old.stdout.splitlines()} == {
        "itunes/subscription-events",
        "itunes/active-subscription",
    }
    unknown = runner.invoke(app, ["load", "itunez", *day])
    assert unknown.exit_code == 2 and "unknown source 'itunez'; known: " in unknown.stderr
    wrong = runner.invoke(app, ["lake", "ls", "itunes", "no-such-thing"])
    assert wrong.exit_code == 2 and "itunes has no dataset 'no-such-thing'" in wrong.stderr
    # 80 columns (a pipe's width for rich): long keys wrap, none is cut with an ellipsis
    narrow = runner.invoke(app, ["lake", "ls", "itunes"], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0 and "…" not in narrow.stdout, narrow.stdout
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    listed = runner.invoke(app, ["lake", "ls", "itunes", "subscription-events", "--json"])
    [entry] = json.loads(listed.stdout)
    assert entry["key"].endswith("2016/10/24/Subscription_Event_85082573_20161024.txt.gz")
    flat = "".join(narrow.stdout.replace("│", " ").split())
    assert "Subscription_Event_85082573_20161024.txt.gz" in flat


def test_status_lines_when_not_on_a_terminal() -> None:
    import io
    import threading
    import time

    from rich.console import Console

    from tally.cli._steps import status_lines

    out = io.StringIO()
    stop = threading.Event()
    counter = iter(range(1000))
    thread = status_lines(Console(file=out), lambda: f"events {next(counter)}", 0.05, stop)
    time.sleep(0.3)
    stop.set()
    thread.join(timeout=2)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and lines[0].endswith("events 0") and lines[1].endswith("events 1")


def test_commands_names_the_area_of_every_top_level_command() -> None:
    """`tally NAME` imports only COMMANDS[NAME]'s area, so the index must be complete and
    right: each area's commands are exactly the names COMMANDS gives that area."""
    import typer

    from tally.cli.main import COMMANDS, areas, build_app

    for area in areas():
        group = typer.main.get_command(build_app([area]))
        registered = set(group.commands)
        indexed = {name for name, owner in COMMANDS.items() if owner == area}
        assert registered == indexed, (
            f"tally.cli.{area} registers {sorted(registered)}; COMMANDS in cli/main.py "
            f"names {sorted(indexed)} for it"
        )


def test_a_known_command_builds_its_area_alone_and_anything_else_every_area() -> None:
    import typer

    from tally.cli.main import app_for

    alone = typer.main.get_command(app_for(["pivot", "--help"]))
    assert set(alone.commands) == {"pivot", "report"}
    for arguments in ([], ["--help"], ["no-such-command"]):
        every = typer.main.get_command(app_for(arguments))
        assert {"pivot", "serve", "stream", "demo", "web-report"} <= set(every.commands)
