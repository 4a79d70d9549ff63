"""The ``tally`` command. Each area adds its commands from its own module (``register``).

Start-up is kept short by importing only the area a command lives in: ``tally pivot …``
imports ``tally.cli.reports`` and what its command needs, not the server, the stream engine
or the pipeline. ``COMMANDS`` says which area module registers each top-level name.

How to add a command (or a group of commands):
1. write it in an area module of this package (or a new one) and add it in that module's
   ``register(app)``; keep heavy imports (pyarrow, openpyxl, servers) inside the command's
   function, so that importing the area stays cheap for its other commands;
2. add its top-level name here: ``COMMANDS["name"] = "area"``.
A name missing from ``COMMANDS`` still works (every area is imported, as for ``tally
--help``), only slower; ``tests/cli/test_main.py`` fails until the entry is added.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import typer

from tally.cli._errors import TallyGroup

# Top-level command name → the module of this package whose ``register(app)`` adds it.
COMMANDS: dict[str, str] = {
    "config": "core",
    "lake": "core",
    "ingest": "core",
    "load": "core",
    "build": "core",
    "query": "core",
    "status": "core",
    "demo": "core",
    "run": "core",
    "backfill": "marts",
    "scheduler": "marts",
    "report": "reports",
    "pivot": "reports",
    "serve": "server",
    "token": "server",
    "sources": "sources",
    "stream": "stream",
    "alerts": "stream",
    "user": "users",
    "site": "web",
    "goal": "web",
    "web": "web",
    "web-report": "webreport",
}


def areas() -> list[str]:
    """Every area module of this package, ``core`` first (``_`` modules are shared helpers)."""
    import pkgutil

    names = (
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name != "main" and not m.name.startswith("_")
    )
    return sorted(names, key=lambda name: (name != "core", name))


def build_app(only: list[str] | None = None) -> typer.Typer:
    """The ``tally`` app with the commands of ``only`` (area module names), or of every area."""
    built = typer.Typer(
        cls=TallyGroup,  # every failure: one line and exit code 2 or 3 (see _errors)
        name="tally",
        help="A data platform for subscription businesses.",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="markdown",
        pretty_exceptions_enable=False,
    )
    if only is not None:
        # A callback keeps the app a group even when the area adds a single command
        # (Typer would otherwise run that command without its name).
        built.callback()(_group)
    for name in areas() if only is None else only:
        importlib.import_module(f"tally.cli.{name}").register(built)
    return built


def _group() -> None:
    """A data platform for subscription businesses."""


def app_for(arguments: list[str]) -> typer.Typer:
    """The app holding the command ``arguments`` name: its area alone when ``COMMANDS`` knows it."""
    area = COMMANDS.get(arguments[0]) if arguments else None
    return build_app(None if area is None else [area])


def __getattr__(name: str) -> Any:
    """``tally.cli.main.app``: every command (tests, docs checks), built on first use."""
    if name == "app":
        globals()["app"] = built = build_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point: tally's own errors end in one clear line, not a traceback.

    Everything the command creates is private to its user (files 0600, directories 0700):
    the warehouse holds password and token hashes, the lake and hit log personal data.
    """
    import os

    from tally.errors import TallyError

    os.umask(0o077)
    try:
        app_for(sys.argv[1:])()
    except TallyError as error:
        from rich.console import Console

        from tally.errors import TerminalError

        Console(stderr=True).print(f"[red]error:[/red] {error}", highlight=False)
        raise SystemExit(2 if isinstance(error, TerminalError) else 3) from None
