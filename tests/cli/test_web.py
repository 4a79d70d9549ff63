"""``tally site``, ``tally goal`` and ``tally web sessionize`` end to end on a DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tally.cli.main import app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TALLY_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_site_and_goal_commands(data_dir: Path) -> None:
    added = invoke(
        "site", "add", "--name", "Watch HK", "--url", "https://watch.example.com",
        "--url", "https://m.watch.example.com", "--timezone", "Asia/Hong_Kong",
    )  # fmt: skip
    assert added.startswith("site 1 added: Watch HK")
    assert "https://m.watch.example.com" in invoke("site", "list")
    goal = invoke(
        "goal", "add", "--site", "1", "--name", "Subscribed", "--match", "url",
        "--pattern", "/welcome", "--revenue", "8.5",
    )  # fmt: skip
    assert goal == "goal 1 added to site 1: Subscribed"
    invoke("goal", "edit", "--site", "1", "--goal", "1", "--pattern", "/thanks")
    assert "contains '/thanks'" in invoke("goal", "list", "--site", "1")
    assert invoke("site", "edit", "--site", "1", "--timezone", "Asia/Singapore").endswith(
        "Asia/Singapore"
    )
    assert invoke("web", "sessionize") == "0 site-days rebuilt: 0 visits, 0 hits placed"
    from tally.config import load_settings
    from tally.warehouse import from_settings

    ledger = from_settings(load_settings()).rows(
        "SELECT job, status, rows_out FROM tally_meta.runs"
    )
    assert ledger == [("web.sessionize", "ok", 0)]
    invoke("goal", "delete", "--site", "1", "--goal", "1")
    assert "Subscribed" not in invoke("goal", "list")


def test_bad_input_exits_with_the_field_named(data_dir: Path) -> None:
    result = runner.invoke(
        app, ["site", "add", "--name", "X", "--url", "https://x.example", "--timezone", "Mars/X"]
    )
    assert result.exit_code == 1
    assert "field 'timezone'" in result.output and "Mars/X" in result.output
    result = runner.invoke(app, ["goal", "add", "--site", "4", "--name", "G", "--match", "manual"])
    assert result.exit_code == 1 and "site 4 does not exist" in result.output
