"""Security: data files private to tally's user; `tally query` read-only and without file
or network access unless asked (src/tally/cli/core.py, src/tally/server/runner.py)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tally.cli.main import app
from tally.config import load_settings
from tally.server.runner import narrow_data_permissions

SOURCES = str(Path(__file__).parents[2] / "src")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_tally_command_creates_private_files(tmp_path: Path) -> None:
    """`tally user add` in a fresh data dir, run as a real process under a loose umask:
    the warehouse (password hashes) is 0600 and the data dir 0700."""
    data = tmp_path / "data"
    environment = {**os.environ, "TALLY_DATA_DIR": str(data), "PYTHONPATH": SOURCES}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; os.umask(0o022); from tally.cli.main import main; main()",
            "user",
            "add",
            "ada",
            "--admin",
        ],
        input="a long password\n",
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert mode(data) == 0o700
    assert mode(data / "warehouse.duckdb") == 0o600


def test_the_server_narrows_an_older_installs_files(tmp_path: Path) -> None:
    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path / "data")})
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    warehouse = data / "warehouse.duckdb"
    warehouse.write_bytes(b"")
    warehouse.chmod(0o644)
    changed = narrow_data_permissions(settings)
    assert set(changed) == {data, warehouse}
    assert (mode(data), mode(warehouse)) == (0o700, 0o600)
    assert narrow_data_permissions(settings) == []  # nothing left to narrow


@pytest.fixture
def console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TALLY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no developer tally.toml
    runner = CliRunner()

    def query(*arguments: str):
        return runner.invoke(app, ["query", *arguments], terminal_width=200)

    assert query("--write", "create table main.notes as select 41 + 1 as answer").exit_code == 0
    return query


def test_query_is_read_only_unless_write(console) -> None:
    assert "42" in console("select answer from main.notes").output
    refused = console("insert into main.notes values (7)")
    assert refused.exit_code != 0 and "read-only" in refused.output
    assert console("--write", "insert into main.notes values (7)").exit_code == 0
    assert "2" in console("select count(*) from main.notes").output


def test_query_reaches_no_file_unless_asked(console, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("word\nswordfish\n")
    for sql in (
        f"select * from read_csv('{secret}')",
        f"attach '{tmp_path / 'other.duckdb'}' as other",
        f"copy (select 1) to '{tmp_path / 'out.csv'}'",
    ):
        for flags in ((), ("--write",)):
            answer = console(*flags, sql)
            assert answer.exit_code != 0, (flags, sql)
            assert "disabled by configuration" in answer.output or "read-only" in answer.output
            assert "swordfish" not in answer.output
    assert not (tmp_path / "out.csv").exists()
    allowed = console("--external-access", f"select * from read_csv('{secret}')")
    assert allowed.exit_code == 0 and "swordfish" in allowed.output


def test_query_on_postgresql_runs_in_a_read_only_transaction(warehouse) -> None:
    """Both backends: without --write a change is refused; with it, it lands."""
    from tally.cli.core import console_query

    url = getattr(warehouse, "url", None)
    if url is None or url.startswith("duckdb"):
        url = f"duckdb:///{warehouse.path}"
    warehouse.close()
    settings = load_settings(environ={"TALLY_WAREHOUSE_URL": url, "TALLY_DATA_DIR": "/nonexistent"})
    with pytest.raises(Exception, match="(?i)read.only"):
        console_query(settings, "CREATE TABLE tally_meta.probe (a INTEGER)")
    console_query(settings, "CREATE TABLE tally_meta.probe (a INTEGER)", write=True)
    assert console_query(settings, "SELECT count(*) AS n FROM tally_meta.probe").to_pylist() == [
        {"n": 0}
    ]
