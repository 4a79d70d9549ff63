"""Fixtures for the command-line tests."""

import os

import pytest


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh working directory with none of the developer's TALLY_* settings."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("TALLY_") and not name.startswith("TALLY_TEST"):
            monkeypatch.delenv(name)
    return tmp_path
