"""Every command has a section in docs/cli.md (a command nobody can find is not done)."""

from pathlib import Path

import pytest
import typer

from tally.cli.main import app
from tally.config import WebSettings

DOCS = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")


def documented_paths(group, prefix=()):
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            if getattr(command, "invoke_without_command", False):
                yield path
            yield from documented_paths(command, path)
        else:
            yield path


PATHS = sorted(documented_paths(typer.main.get_command(app)))


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_command_has_a_section(path):
    heading = "### tally " + " ".join(path)
    assert heading + "\n" in DOCS, f"docs/cli.md has no section '{heading}'"


TRACKING = (Path(__file__).parents[2] / "docs" / "tracking.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("key", sorted(WebSettings.model_fields))
def test_web_setting_has_a_row(key):
    assert f"| `{key}` |" in TRACKING, f"docs/tracking.md's [web] settings lack `{key}`"
