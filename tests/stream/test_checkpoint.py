"""Checkpoint files: atomic replace, and a damaged file is an error, not a silent reset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tally.errors import BadInputError
from tally.stream import checkpoint


def test_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.json"
    assert checkpoint.load(path) is None
    checkpoint.save(path, {"alerts": [1, 2]})
    checkpoint.save(path, {"alerts": [3]})
    assert checkpoint.load(path) == {"version": 1, "alerts": [3]}
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary left


def test_damaged_checkpoint_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "alerts": [')
    with pytest.raises(BadInputError, match=r"state.json, line 1: checkpoint is not valid JSON"):
        checkpoint.load(path)
