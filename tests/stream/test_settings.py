"""The [stream] section: defaults, durations, and errors that name the key."""

from __future__ import annotations

import pytest

from tally.config import load_settings
from tally.errors import ConfigError
from tally.stream.settings import stream_settings


def test_defaults_and_state_dir_under_data_dir() -> None:
    parsed = stream_settings({}, data_dir="/srv/tally")
    assert parsed.state_dir == "/srv/tally/stream"
    assert parsed.route.group_wait == 30 and parsed.builtin_rules


def test_section_from_toml_and_environment(tmp_path) -> None:
    config = tmp_path / "tally.toml"
    config.write_text('[stream.route]\ngroup_wait = "10s"\nreceivers = ["ops"]\n')
    settings = load_settings(config, environ={"TALLY_STREAM__CHECKPOINT_EVERY": "2m"})
    parsed = stream_settings(settings.stream)
    assert parsed.route.group_wait == 10 and parsed.checkpoint_every == 120


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"stream.route.group_wiat"):
        stream_settings({"route": {"group_wiat": 5}})
