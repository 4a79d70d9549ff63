"""``tally stream`` and ``tally alerts`` through typer's runner, on a throwaway data dir."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tally.cli.stream import register
from tally.stream import checkpoint
from tally.stream.alerts import Alert, AlertBook, Route

FIXTURES = Path(__file__).parents[1] / "fixtures" / "stream"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    app = typer.Typer()
    register(app)
    monkeypatch.setenv("TALLY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TALLY_CONFIG", str(tmp_path / "tally.toml"))
    monkeypatch.setenv("COLUMNS", "250")  # a long temporary path must not be folded mid-word
    (tmp_path / "tally.toml").write_text("")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def test_every_command_has_an_example(cli) -> None:
    for command in (
        ["stream"],
        ["alerts"],
        ["alerts", "silence"],
        ["alerts", "expire"],
        ["alerts", "notifications"],
    ):
        assert "Example: tally" in cli(*command, "--help").output, command


def test_stream_check_lists_builtins_and_file_rules(cli) -> None:
    result = cli("stream", "--check", "--rules", str(FIXTURES / "rules.yaml"))
    assert result.exit_code == 0
    assert "8 rules OK" in result.output  # 6 built-ins + sensor_hot + sensor_dead


def test_stream_check_reports_a_bad_rules_file(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    type: nonsense\n")
    result = cli("stream", "--check", "--rules", str(bad))
    assert result.exit_code == 2
    assert "bad.yaml: rule #1 (x): type" in " ".join(result.output.split())  # rich wraps


def test_alerts_list_silence_and_expire(cli, tmp_path: Path) -> None:
    book = AlertBook(Route())
    alert = Alert(
        "sensor_hot",
        "s1",
        {"alertname": "sensor_hot", "key": "s1"},
        "s1 hot",
        "firing",
        0.0,
        35.0,
        fired_at=10.0,
    )
    book.alerts[alert.fingerprint] = alert
    checkpoint.save(tmp_path / "stream" / "alerts.json", {"saved_at": 1, "book": book.dump()})
    listed = cli("alerts", "--json")
    assert '"fingerprint": "sensor_hot/s1"' in listed.output and '"muted": null' in listed.output
    made = cli("alerts", "silence", "-m", "key=s1", "--for", "2h", "--comment", "fixing")
    silence_id = made.output.split()[1]
    assert f'"muted": "silenced:{silence_id}"' in cli("alerts", "--json").output
    assert cli("alerts", "expire", silence_id).exit_code == 0
    assert '"muted": null' in cli("alerts", "--json").output
    assert cli("alerts", "expire", "nope").exit_code == 1
    assert cli("alerts", "silence", "-m", "no operator").exit_code == 2
    assert cli("alerts", "notifications").exit_code == 0
