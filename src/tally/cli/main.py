"""The ``tally`` command. Each area adds its commands from its own module (``register``)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import typer

from tally.cli._errors import TallyGroup

app = typer.Typer(
    cls=TallyGroup,  # every failure: one line and exit code 2 or 3 (see _errors)
    name="tally",
    help="A data platform for subscription businesses.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)

# Every other public module of this package is an area exposing ``register(app)``: adding a
# group of commands is adding a module, never editing a list here. ``core`` goes first;
# ``_`` modules are helpers the areas share.
_AREAS = sorted(
    (
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name != "main" and not m.name.startswith("_")
    ),
    key=lambda name: (name != "core", name),
)
for _name in _AREAS:
    importlib.import_module(f"tally.cli.{_name}").register(app)


def main() -> None:
    """Entry point: tally's own errors end in one clear line, not a traceback.

    Everything the command creates is private to its user (files 0600, directories 0700):
    the warehouse holds password and token hashes, the lake and hit log personal data.
    """
    import os

    from rich.console import Console

    from tally.errors import TallyError, TerminalError

    os.umask(0o077)
    try:
        app()
    except TallyError as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}", highlight=False)
        raise SystemExit(2 if isinstance(error, TerminalError) else 3) from None
