"""Server commands: ``tally serve`` and ``tally token add|list|revoke``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tally.config import load_settings
from tally.warehouse import from_settings

console = Console()
token_app = typer.Typer(
    help="API tokens for the server's authenticated endpoints.", no_args_is_help=True
)


def serve_command(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on.")] = None,
) -> None:
    """Serve tracking (/matomo.php), tally.js, the API and the hit loader.

    Host and port default to [server] in tally.toml (127.0.0.1:8080).

    Example: tally serve --host 0.0.0.0 --port 8080
    """
    from tally.server.runner import serve

    serve(load_settings(), host, port)


@token_app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="Who or what the token is for.")],
) -> None:
    """Create an API token and print it once (only its SHA-256 is stored).

    Example: tally token add reporting-bot
    """
    from tally.server.auth import create_token

    token = create_token(from_settings(load_settings()), name)
    console.print(token, highlight=False, soft_wrap=True)


@token_app.command("list")
def list_command() -> None:
    """List API tokens by name, with when they were created and revoked.

    Example: tally token list
    """
    from tally.server.auth import list_tokens

    table = Table("name", "created (UTC)", "revoked (UTC)")
    for name, created, revoked in list_tokens(from_settings(load_settings())):
        table.add_row(
            name, f"{created:%Y-%m-%d %H:%M}", f"{revoked:%Y-%m-%d %H:%M}" if revoked else ""
        )
    console.print(table)


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
