"""The ``tally`` command. Each area adds its commands from its own module (``register``)."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="tally",
    help="A data platform for subscription businesses.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)

# Each module defines ``register(app)``; a missing optional area never breaks the CLI.
AREAS = (
    "tally.cli.core",
    "tally.cli.web",
    "tally.cli.stream",
    "tally.cli.reports",
    "tally.cli.marts",
    "tally.cli.sources",
    "tally.cli.server",
)

for _module in AREAS:
    try:
        _area = importlib.import_module(_module)
    except ModuleNotFoundError as _error:
        if _error.name != _module:
            raise
        continue
    _area.register(app)


def main() -> None:
    """Entry point: tally's own errors end in one clear line, not a traceback."""
    from rich.console import Console

    from tally.errors import TallyError, TerminalError

    try:
        app()
    except TallyError as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}", highlight=False)
        raise SystemExit(2 if isinstance(error, TerminalError) else 3) from None
