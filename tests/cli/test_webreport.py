"""``tally web-report`` on a DuckDB file holding the hand-made reporting site."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from tests.web.reporting_site import load_site
from typer.testing import CliRunner

from tally.cli.webreport import register
from tally.warehouse import connect

runner = CliRunner()


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """A CLI holding only web-report, over a warehouse with the fixture site loaded."""
    monkeypatch.setenv("TALLY_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    store = connect(f"duckdb:///{tmp_path}/data/warehouse.duckdb")
    store.migrate()
    load_site(store)
    store.close()
    cli = typer.Typer()
    register(cli)
    cli.command("noop", hidden=True)(lambda: None)  # keeps typer from collapsing to one command
    return cli


def test_web_report_prints_the_api_answer(app: typer.Typer) -> None:
    base = ["web-report", "VisitsSummary.get", "--site", "1", "--date", "2026-03-02"]
    result = runner.invoke(app, base)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["nb_visits"], summary["bounce_rate"]) == (4, "50%")  # see reporting_site
    pages = runner.invoke(
        app,
        ["web-report", "Actions.getPageUrls", "--site", "1", "--date", "2026-03-02",
         "--segment", "deviceType==smartphone", "--param", "filter_limit=1", "--format", "csv"],
    )  # fmt: skip
    assert pages.exit_code == 0, pages.output
    # smartphones: V2 (/shows) and V3 (/, /watch/1): three pages with one visit each; the
    # first by label is /index
    lines = pages.output.splitlines()
    assert lines[0].startswith("label,nb_visits,nb_hits") and lines[1].startswith("/index,1,1,")
    assert len(lines) == 2


def test_web_report_errors_are_one_line(app: typer.Typer) -> None:
    result = runner.invoke(app, ["web-report", "Nope.get", "--site", "1"])
    assert result.exit_code == 1 and "unknown method 'Nope.get'" in result.output
    help_text = runner.invoke(app, ["web-report", "--help"]).output
    assert "Example: tally web-report VisitsSummary.get --site 1" in help_text
