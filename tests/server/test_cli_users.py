"""``tally user``: the password comes from stdin (never a default), rights by site."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from tally.cli.main import app
from tally.config import load_settings
from tally.server import users
from tally.warehouse import from_settings

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TALLY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    return tmp_path / "data"


def invoke(*args: str, stdin: str = "") -> str:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_add_grant_list_and_password(data_dir: Path) -> None:
    assert invoke("user", "add", "ada", "--admin", stdin="correct horse battery\n") == (
        "user ada added (admin)"
    )
    invoke("site", "add", "--name", "Watch", "--url", "https://watch.example.com")
    added = invoke("user", "add", "bob", "--site", "1", stdin="another long password\n")
    assert added == "user bob added, view on site(s) 1"
    listed = invoke("user", "list")
    assert "ada │ yes" in listed and "bob │ │ 1:view" in listed
    as_json = json.loads(runner.invoke(app, ["user", "list", "--json"]).stdout)
    assert as_json == [
        {"name": "ada", "is_admin": True, "sites": {}},
        {"name": "bob", "is_admin": False, "sites": {"1": "view"}},
    ]
    invoke("user", "grant", "bob", "--site", "1", "--rights", "admin")
    invoke("user", "password", "bob", stdin="a third long password\n")
    warehouse = from_settings(load_settings())
    assert users.authenticate(warehouse, "bob", "a third long password").sites == {1: "admin"}
    assert users.authenticate(warehouse, "bob", "another long password") is None


def test_no_password_no_user(data_dir: Path) -> None:
    empty = runner.invoke(app, ["user", "add", "ada"], input="")
    assert empty.exit_code != 0 and "no password on stdin" in empty.output
    short = runner.invoke(app, ["user", "add", "ada"], input="short\n")
    # a TallyError ends as one line on stderr and exit code 2 (tally.cli._errors)
    assert short.exit_code == 2 and "at least 10 characters" in short.stderr
    assert "ada" not in invoke("user", "list")
