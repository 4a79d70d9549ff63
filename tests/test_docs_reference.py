"""The docs and the code name the same things, in both directions: commands (docs/cli.md),
Reporting API methods (docs/reporting-api.md), notifier kinds (docs/stream.md) and report
periods and formats (docs/reports.md). Settings: tests/test_config_reference.py."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import typer

from tally.cli.main import app
from tally.reports.export import FORMATS
from tally.reports.fact import PERIODS
from tally.stream.notifiers import KINDS
from tally.stream.settings import ReceiverSpec
from tally.web.reporting.api import BULK
from tally.web.reporting.methods import METHODS
from tally.web.reporting.sites_api import SITE_METHODS

DOCS = Path(__file__).parent.parent / "docs"


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def command_paths(group: typing.Any, prefix: tuple[str, ...] = ()) -> set[str]:
    found = set()
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.add(" ".join(path))
        if hasattr(command, "commands"):
            found |= command_paths(command, path)
    return found


def test_every_documented_command_exists() -> None:
    """The other direction of tests/cli/test_docs.py: no section for a command that is gone."""
    documented = set(re.findall(r"^### tally (.+)$", read("cli.md"), flags=re.MULTILINE))
    documented = {heading.split(" (")[0].strip() for heading in documented}
    assert documented - command_paths(typer.main.get_command(app)) == set()


def documented_methods() -> set[str]:
    """The first cell of each row of the Methods table: ``Module.method``, and a bare
    ``method`` belonging to the row's first module."""
    text = read("reporting-api.md").split("## Methods", 1)[1].split("\n## ", 1)[0]
    found = set()
    for row in re.findall(r"^\| (.+?) \|", text, flags=re.MULTILINE):
        module = ""
        for name in re.findall(r"`([A-Za-z.]+)`", row):
            if "." in name:
                module = name.split(".")[0]
                found.add(name)
            elif module:
                found.add(f"{module}.{name}")
    return found


def served_methods() -> set[str]:
    return set(METHODS) | set(SITE_METHODS) | {BULK}


def test_every_reporting_api_method_is_documented() -> None:
    assert served_methods() - documented_methods() == set()


def test_every_documented_reporting_api_method_is_served() -> None:
    assert documented_methods() - served_methods() == set()


def test_notifier_kinds_and_the_docs_agree() -> None:
    kinds = set(typing.get_args(ReceiverSpec.model_fields["type"].annotation))
    documented = set(re.findall(r'^type = "(\w+)"', read("stream.md"), flags=re.MULTILINE))
    assert kinds == set(KINDS) == documented


def test_report_periods_and_formats_and_the_docs_agree() -> None:
    text = read("reports.md")
    usage = re.search(r"--period (\w+).*?\[--format ([a-z|]+)\]", text, flags=re.DOTALL)
    assert usage is not None
    assert set(usage[2].split("|")) == set(FORMATS)
    resolution = re.search(r"^\| `resolution_type` \| .+? \| (.+?) \|$", text, re.MULTILINE)
    assert resolution is not None
    assert {p.strip() for p in resolution[1].split(",")} == set(PERIODS)
