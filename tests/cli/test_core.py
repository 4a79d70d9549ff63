"""The command line: every command documents an example; core verbs work end to end."""

import gzip
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tally.cli.main import app

runner = CliRunner()


def all_commands(group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            yield from all_commands(command, path)
        else:
            yield path


COMMANDS = sorted(all_commands(typer.main.get_command(app)))


def test_core_commands_exist():
    names = {" ".join(path) for path in COMMANDS}
    assert {"config", "lake ls", "ingest", "load", "build", "query", "status", "demo"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_has_help_with_an_example(path):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example: tally " in " ".join(result.output.split()), result.output


def test_config_prints_effective_settings_with_secrets_masked(workdir, monkeypatch):
    monkeypatch.setenv("TALLY_SERVER__SECRET_KEY", "hunter2-secret")
    result = runner.invoke(app, ["config", "--json"])
    assert result.exit_code == 0, result.output
    values = json.loads(result.output)
    assert values["warehouse_url"] == "duckdb:///./tally-data/warehouse.duckdb"
    assert values["server"]["secret_key"] == "********"
    assert "hunter2" not in result.output


def test_invalid_setting_exits_2_naming_the_key(workdir, monkeypatch):
    monkeypatch.setenv("TALLY_LOCK_WAIT_SECONDS", "soon")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert "lock_wait_seconds" in result.output and "TALLY_LOCK_WAIT_SECONDS" in result.output


def test_demo_then_query_counts_rows(workdir):
    result = runner.invoke(app, ["demo", "--days", "1", "--end", "2016-10-24", "--seed", "5"])
    assert result.exit_code == 0, result.output
    # not a terminal: each long step is a plain start line and a done line, no redrawn bar
    lines = result.output.splitlines()
    for step in ("generate itunes", "load", "build", "reports", "web traffic"):
        assert any(line.startswith(f"{step}: started") for line in lines), step
        assert any(line.startswith(f"{step}: done in ") for line in lines), step
    assert "\x1b[" not in result.output
    assert "where to look" in result.output and "make serve PORT=8090" in result.output
    query = runner.invoke(
        app,
        [
            "query",
            "select count(*) as n from staging.itunes_subscription_events",
            "--format",
            "json",
        ],
    )
    assert query.exit_code == 0, query.output
    assert json.loads(query.output)[0]["n"] > 0
    status = runner.invoke(app, ["status", "--json", "--limit", "500"])
    steps = json.loads(status.output)
    assert {s["job"] for s in steps} >= {"ingest", "load", "build"}
    assert all(s["status"] in ("ok", "skipped") for s in steps), [
        s for s in steps if s["status"] == "failed"
    ]
    listing = runner.invoke(
        app, ["lake", "ls", "--source", "itunes", "--date", "2016-10-24"], env={"COLUMNS": "250"}
    )
    assert "subscription-events/2016/10/24/Subscription_Event_85082573_20161024.txt.gz" in (
        listing.output
    )
    assert "2016/10/23" not in listing.output


# -- hostile files through the command line (issue 24) -------------------------------------

EVENTS_FIXTURE = (
    Path(__file__).parents[1] / "fixtures" / "sources" / ("itunes_subscription_event_small.txt")
)


def _load_itunes(workdir, data: bytes) -> typer.testing.Result:
    report = workdir / "Subscription_Event_85082573_20161023.txt.gz"
    report.write_bytes(data)
    landed = runner.invoke(
        app, ["ingest", "itunes", "subscription-events", "-d", "2016-10-23", "--file", str(report)]
    )
    assert landed.exit_code == 0, landed.output
    return runner.invoke(app, ["load", "-d", "2016-10-23", "--source", "itunes"])


def test_a_truncated_gzip_is_quarantined_with_its_reason_not_aborted(workdir) -> None:
    data = gzip.compress(EVENTS_FIXTURE.read_bytes(), mtime=0)
    result = _load_itunes(workdir, data[: len(data) // 2])
    assert result.exit_code == 1
    assert "not a readable gzip file: Compressed file ended" in result.output
    assert "Aborted" not in result.output and isinstance(result.exception, SystemExit)
    quarantined = runner.invoke(app, ["query", "SELECT line, reason FROM tally_meta.quarantine"])
    assert "not a readable gzip file" in quarantined.output


def test_a_huge_line_and_a_50_digit_number_cost_their_rows_only(workdir, monkeypatch) -> None:
    monkeypatch.setenv("TALLY_QUARANTINE_THRESHOLD", "0.5")
    header, first, *rest = EVENTS_FIXTURE.read_bytes().splitlines(keepends=True)
    fifty = first.rsplit(b"\t", 1)[0] + b"\t" + b"9" * 50 + b"\n"  # Quantity: 50 digits
    huge = first.replace(b"tally Video", b"x" * 10_000_000)  # a 10 MB line
    result = _load_itunes(workdir, gzip.compress(header + fifty + huge + first + b"".join(rest)))
    assert result.exit_code == 0, result.output
    # four good rows land; the two hostile ones are quarantined
    assert "loaded itunes/subscription-events 2016-10-23: 4 rows, 2 quarantined" in result.output
    quarantined = runner.invoke(
        app, ["query", "SELECT line, field FROM tally_meta.quarantine ORDER BY line", "-f", "json"]
    )
    assert json.loads(quarantined.output) == [
        {"line": 2, "field": "Quantity"},
        {"line": 3, "field": None},
    ]


def _blocks() -> list[str]:
    from tally.config import reference_entries

    return sorted({e.key.rsplit(".", 1)[0] for e in reference_entries() if "." in e.key})


@pytest.mark.parametrize("block", ["", *_blocks()])
def test_config_with_a_misspelt_key_in_any_section_fails_naming_it(workdir, block):
    """The issue's must-show, as a user meets it: ``tally config`` on a tally.toml with a
    misspelt key in one section (or at the top) exits 2 naming the key and its variable."""
    header = f"[{block}]\n" if block else ""
    (workdir / "tally.toml").write_text(f'{header}buckett = "x"\n', encoding="utf-8")
    result = runner.invoke(app, ["config"])
    key = f"{block}.buckett" if block else "buckett"
    variable = "TALLY_" + key.upper().replace(".", "__")
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert f"{key} (env {variable}): unknown key" in said
