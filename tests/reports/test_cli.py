"""The report commands through typer, against a DuckDB file holding the fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tally.cli.main import app
from tally.reports.fact import TABLE
from tally.warehouse import connect

runner = CliRunner()


@pytest.fixture
def environment(tmp_path: Path, fact_rows, monkeypatch) -> Path:
    url = f"duckdb:///{tmp_path}/cli.duckdb"
    store = connect(url)
    store.migrate()
    store.replace_partition(TABLE, fact_rows, {})
    store.close()
    monkeypatch.setenv("TALLY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TALLY_WAREHOUSE_URL", url)
    monkeypatch.delenv("TALLY_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_pivot_prints_sql_and_value(environment) -> None:
    formula = (
        'GETPIVOTDATA("value",\'Active subscriber\'!$A$5,"Platform","Redemption",'
        '"Start Date","1/25/2017","Meta 4","Paying","Meta 2","Redemption Campaign")'
    )
    result = runner.invoke(app, ["pivot", "--sql", "--country", "HK", formula])
    assert result.exit_code == 0, result.output
    assert "AND platform = ?" in result.output and "-- 'Redemption'" in result.output
    assert result.output.strip().splitlines()[-1] == "15"  # HK: 10 Promotion + 5 Retail


def test_pivot_from_stdin_and_ref_error(environment) -> None:
    result = runner.invoke(
        app, ["pivot", "-"], input='GETPIVOTDATA("value",Churn!A1,"Meta 1","zz")'
    )
    assert result.exit_code == 1
    assert "#REF! item 'zz' is not in field 'Meta 1' of 'Churn'" in result.output


def test_report_subscription_and_all(environment) -> None:
    result = runner.invoke(
        app, ["report", "subscription", "-c", "SG", "-p", "weekly", "-d", "2017-01-25"]
    )
    assert result.exit_code == 0, result.output
    path = environment / "data/reports/subscription-report/weekly/subscription-sg-2017-01-25.xlsx"
    assert path.exists() and str(path) in result.output
    result = runner.invoke(app, ["report", "all", "--date", "2017-01-25", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.count("wrote ") == 4 and "skipped" in result.output


def test_every_command_has_an_example() -> None:
    for args in (["report", "subscription"], ["report", "all"], ["pivot"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0 and "Example: tally " in result.output


def test_pivot_in_a_fresh_process_loads_no_other_area_and_no_heavy_library(environment) -> None:
    """`tally pivot` answers within half a second only while it imports little: not
    openpyxl's package (only its tokenizer file), pyarrow, sqlglot, rich, nor the other
    command areas (server, stream, pipeline). A later import at module level in one of
    these paths fails here, naming the module."""
    import json
    import subprocess
    import sys

    formula = (
        'GETPIVOTDATA("value",\'Active subscriber\'!$A$5,"Platform","Redemption",'
        '"Start Date","1/25/2017","Meta 4","Paying","Meta 2","Redemption Campaign")'
    )
    script = (
        "import json, sys\n"
        f"sys.argv = ['tally', 'pivot', '--country', 'HK', {formula!r}]\n"
        "from tally.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    answer, loaded = done.stdout.splitlines()
    assert answer == "15", done.stdout + done.stderr  # as in test_pivot_prints_sql_and_value
    heavy = ("openpyxl", "pyarrow", "sqlglot", "rich", "numpy", "xlsxwriter", "pandas")
    # (settings modules of other areas are light: tally.config reads them)
    areas = ("tally.server.app", "tally.stream.engine", "tally.pipeline", "tally.web")
    areas += ("tally.cli.core", "tally.cli.server", "tally.cli.stream", "tally.cli.web")
    found = [name for name in json.loads(loaded) if name.split(".")[0] in heavy]
    # the settings tree's declarations (tally.config.SECTION_MODULES) are light (pydantic
    # only; test_config_reference checks it) and every command loads settings
    declarations = {
        "tally.server",
        "tally.server.settings",
        "tally.stream",
        "tally.stream.settings",
        "tally.stream.durations",
    }
    found += [
        name for name in json.loads(loaded) if name.startswith(areas) and name not in declarations
    ]
    assert found == [], f"tally pivot imported {found}"
