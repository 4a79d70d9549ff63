"""Server commands: ``tally serve`` and ``tally token add|list|revoke``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tally.cli._steps import status_lines
from tally.cli._tables import print_json
from tally.config import load_settings
from tally.server.settings import ServerSettings
from tally.warehouse import from_settings

console = Console()
notes = Console(stderr=True)
token_app = typer.Typer(
    help="API tokens for the server's authenticated endpoints.", no_args_is_help=True
)


def serve_command(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on.")] = None,
    status_every: Annotated[
        float, typer.Option(help="Seconds between status lines when not on a terminal.", min=1)
    ] = 60.0,
) -> None:
    """Serve tracking (/matomo.php), tally.js, the API and the hit loader.

    Host and port default to [server] in tally.toml (127.0.0.1:8080).

    Example: tally serve --host 0.0.0.0 --port 8080
    """
    from tally.server.runner import serve

    settings = load_settings()
    stop = threading.Event()
    if not console.is_terminal:  # a log or a pipe: say every so often that it is alive
        started = time.monotonic()
        hit_log = Path(settings.web.hit_log_dir or Path(settings.data_dir) / "hitlog")

        server = settings.section(ServerSettings)

        def describe() -> str:
            files = [p for p in hit_log.glob("*") if p.is_file()] if hit_log.exists() else []
            size = sum(p.stat().st_size for p in files)
            return (
                f"tally serve: up {time.monotonic() - started:,.0f} s on "
                f"{host or server.host}:{port or server.port}; "
                f"hit log {len(files)} file(s), {size:,} bytes"
            )

        status_lines(console, describe, status_every, stop)
    try:
        serve(settings, host, port)
    finally:
        stop.set()


_DURATION = re.compile(r"^(\d+)([dh])$")


def parse_expiry(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """``30d``, ``12h``, a date (``2027-01-31``, its 00:00 UTC) or ``2027-01-31T18:00``."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    found = _DURATION.match(text.strip())
    if found:
        amount, unit = int(found.group(1)), found.group(2)
        return now + (dt.timedelta(days=amount) if unit == "d" else dt.timedelta(hours=amount))
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"--expires {text!r}: give 30d, 12h, 2027-01-31 or 2027-01-31T18:00 (UTC)"
        ) from None
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


@token_app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="Who or what the token is for.")],
    user: Annotated[
        str | None,
        typer.Option("--user", help="The token acts with this user's sites and rights."),
    ] = None,
    admin: Annotated[
        bool,
        typer.Option("--admin", help="A service token with admin rights (no user)."),
    ] = False,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="30d, 12h, 2027-01-31 or 2027-01-31T18:00 (UTC)."),
    ] = None,
) -> None:
    """Create an API token and print it once (only its SHA-256 is stored).

    With --user the token reads only that user's sites, with that user's rights; --admin
    makes a service token with admin rights (every site, the admin APIs). One of the two is
    required, so admin rights are never given by leaving an option out.

    Example: tally token add reporting-bot --user bob --expires 90d
    """
    from tally.server.auth import create_token

    if user is not None and admin:
        raise typer.BadParameter("give --user NAME or --admin, not both")
    if user is None and not admin:
        raise typer.BadParameter(
            "give --user NAME (the token acts with that user's sites and rights) "
            "or --admin (a service token with admin rights on every site)"
        )
    expires_at = parse_expiry(expires) if expires else None
    token = create_token(from_settings(load_settings()), name, user=user, expires_at=expires_at)
    console.print(token, highlight=False, soft_wrap=True)
    if admin:
        notes.print(
            "note: a service token, with admin rights on every site and the admin APIs",
            style="yellow",
            highlight=False,
        )


@token_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List API tokens by name: owner (or service), created, expires and revoked.

    Example: tally token list --json
    """
    from tally.server.auth import list_tokens

    tokens = list_tokens(from_settings(load_settings()))
    if as_json:
        print_json([dataclasses.asdict(token) for token in tokens])
        return
    table = Table("name", "user", "created (UTC)", "expires (UTC)", "revoked (UTC)")
    for token in tokens:
        table.add_row(
            token.name,
            token.user or "(service: admin)",
            _moment(token.created_at),
            _moment(token.expires_at),
            _moment(token.revoked_at),
        )
    console.print(table)


def _moment(value: dt.datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else ""


@token_app.command("revoke")
def revoke_command(
    name: Annotated[str, typer.Argument(help="Name given at `tally token add`.")],
) -> None:
    """Revoke every live token with this name (the server notices within 30 s).

    Example: tally token revoke reporting-bot
    """
    from tally.server.auth import revoke_tokens

    count = revoke_tokens(from_settings(load_settings()), name)
    console.print(f"revoked {count} token(s) named {name}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.add_typer(token_app, name="token")
