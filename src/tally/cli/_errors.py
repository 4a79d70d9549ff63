"""How every ``tally`` command ends when something is wrong: one line on standard error and
an exit code a script can act on, never a traceback.

| exit | meaning |
| --- | --- |
| 0 | done |
| 1 | done, but some partitions failed (``tally run``, ``load``, ``backfill``: listed above it) |
| 2 | bad input or nothing to work on yet: fix the command, the settings or run a step first |
| 3 | transient: the warehouse is locked, a server did not answer; the same command may work later |

``TALLY_DEBUG=1`` shows the traceback of an unexpected error instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click
from typer.core import TyperGroup

from tally.errors import TallyError, TransientError

BAD_INPUT, TRANSIENT = 2, 3
# Database errors that mean "not there yet" (a table before the first build) are bad input;
# the ones about locks and connections are transient. Named, not imported: each backend's
# driver is optional for the other.
_MISSING = {"CatalogException", "UndefinedTable", "BinderException", "ParserException"}
_TRANSIENT = {"IOException", "OperationalError", "ConnectionException", "ConnectTimeout"}


def exit_code(error: BaseException) -> int:
    if isinstance(error, TallyError):
        return TRANSIENT if isinstance(error, TransientError) else BAD_INPUT
    if type(error).__name__ in _TRANSIENT or isinstance(
        error, ConnectionError | TimeoutError | OSError
    ):
        return TRANSIENT
    return BAD_INPUT


def one_line(error: BaseException) -> str:
    """The error's lines joined into one, with a hint where the cause is a step not run yet."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " ".join(lines) if lines else type(error).__name__
    if not isinstance(error, TallyError | click.ClickException):
        text = f"{type(error).__name__}: {text}"
    if type(error).__name__ in _MISSING and "does not exist" in text:
        text += " (nothing built yet? run tally demo, or tally run --date D)"
    return text


def show(message: str) -> None:
    from rich.console import Console  # only on failure: rich costs start-up time

    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {message}", highlight=False)


class TallyGroup(TyperGroup):
    """The top-level command group: turns every failure into one line and an exit code."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )
        except click.exceptions.Abort:
            show("aborted")
            code = 1
        except click.ClickException as error:  # usage: a missing or unknown argument
            ctx: click.Context | None = getattr(error, "ctx", None)  # UsageError has one
            name = ctx.command_path if ctx is not None else "tally"
            show(f"{error.format_message()} (see {name} --help)")
            code = error.exit_code
        except Exception as error:
            if os.environ.get("TALLY_DEBUG"):
                raise
            show(one_line(error))
            code = exit_code(error)
        else:
            code = result if isinstance(result, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)
