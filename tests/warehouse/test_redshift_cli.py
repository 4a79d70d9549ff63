"""The commands with a Redshift warehouse URL, up to the point where a cluster is needed.

Port 9 on loopback stands for a cluster that cannot be reached (nothing listens there):
the commands that need the warehouse end with an error naming host and port, no traceback.
"""

import json
import os

import pytest
from typer.testing import CliRunner

from tally.cli.main import app

URL = "redshift://tally:s3cret@127.0.0.1:9/dev"
runner = CliRunner()


@pytest.fixture
def redshift_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("TALLY_") and not name.startswith("TALLY_TEST"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TALLY_WAREHOUSE_URL", URL)
    monkeypatch.setenv("TALLY_WAREHOUSE__OPTIONS__IAM_ROLE", "arn:aws:iam::1:role/copy")


def test_config_accepts_a_redshift_url_with_its_password_masked(redshift_settings):
    result = runner.invoke(app, ["config", "--json"])
    assert result.exit_code == 0, result.output
    values = json.loads(result.output)
    assert values["warehouse_url"] == "redshift://tally:********@127.0.0.1:9/dev"
    assert values["warehouse"]["options"]["iam_role"] == "arn:aws:iam::1:role/copy"
    assert "s3cret" not in result.output


def test_status_names_the_unreachable_host(redshift_settings):
    result = runner.invoke(app, ["status"])
    assert result.exit_code != 0
    assert "127.0.0.1:9/dev" in result.output and "cannot connect" in result.output
    assert "Traceback" not in result.output and "s3cret" not in result.output


def test_sources_check_runs_without_the_cluster(redshift_settings):
    """It checks the sources' own endpoints and settings, and needs no warehouse."""
    result = runner.invoke(app, ["sources", "check"])
    assert "Traceback" not in result.output
    assert "itunes" in result.output  # every source is listed with its verdict
