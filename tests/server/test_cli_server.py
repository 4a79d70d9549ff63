"""`tally token add|list|revoke` and `tally serve --help` (src/tally/cli/server.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from tally.cli.server import register
from tally.warehouse import connect


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_token_lifecycle(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TALLY_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no developer tally.toml
    runner = CliRunner()
    # Admin rights are never the default: without --user or --admin nothing is made.
    refused = runner.invoke(cli(), ["token", "add", "reporting-bot"])
    assert refused.exit_code == 2 and "--admin" in refused.output
    both = runner.invoke(cli(), ["token", "add", "x", "--user", "ada", "--admin"])
    assert both.exit_code == 2 and "not both" in both.output
    added = runner.invoke(cli(), ["token", "add", "reporting-bot", "--admin"])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    warehouse = connect(f"duckdb:///{tmp_path}/warehouse.duckdb")
    stored = warehouse.rows("SELECT token_hash FROM tally_meta.api_tokens")
    warehouse.close()
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(),)]
    listed = runner.invoke(cli(), ["token", "list"])
    assert "reporting-bot" in listed.output and token not in listed.output
    as_json = json.loads(runner.invoke(cli(), ["token", "list", "--json"]).stdout)
    assert [(t["name"], t["user"], t["revoked_at"]) for t in as_json] == [
        ("reporting-bot", None, None)
    ]
    assert token not in json.dumps(as_json)
    revoked = runner.invoke(cli(), ["token", "revoke", "reporting-bot"])
    assert "revoked 1 token" in revoked.output


def test_every_command_has_an_example() -> None:
    runner = CliRunner()
    for command in (["serve"], ["token", "add"], ["token", "list"], ["token", "revoke"]):
        shown = runner.invoke(cli(), [*command, "--help"], terminal_width=200)
        assert shown.exit_code == 0
        assert f"Example: tally {' '.join(command)}" in shown.output, command
