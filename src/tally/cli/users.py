"""Dashboard users: ``tally user add|list|grant|revoke|password|delete``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tally.cli._tables import print_json
from tally.config import load_settings
from tally.warehouse import Warehouse, from_settings

console = Console()
user_app = typer.Typer(help="Users who log in to the dashboards.", no_args_is_help=True)


def _warehouse() -> Warehouse:
    warehouse = from_settings(load_settings())
    warehouse.migrate()
    return warehouse


def read_password() -> str:
    """From the prompt (asked twice) on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline()
    if not line:
        raise typer.BadParameter("no password on stdin (pipe it in, or run on a terminal)")
    return line.rstrip("\r\n")


@user_app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="Login name.")],
    admin: Annotated[bool, typer.Option("--admin", help="May see and manage everything.")] = False,
    site: Annotated[
        list[int] | None, typer.Option("--site", help="Site id to grant (repeatable).")
    ] = None,
    rights: Annotated[str, typer.Option(help="Rights on --site: view or admin.")] = "view",
) -> None:
    """Create a user; the password comes from the prompt or stdin (there is no default).

    Example: tally user add ada --admin

    Example: printf '%s\\n' "$PASSWORD" | tally user add bob --site 1 --rights view
    """
    from tally.server.users import add_user, grant

    warehouse = _warehouse()
    password = read_password()
    add_user(warehouse, name, password, admin=admin)
    for idsite in site or []:
        grant(warehouse, name, idsite, rights)
    granted = f", {rights} on site(s) {', '.join(map(str, site))}" if site else ""
    console.print(f"user {name} added{' (admin)' if admin else ''}{granted}")


@user_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List users, whether they are admins, and their site rights.

    Example: tally user list --json
    """
    from tally.server.users import list_users

    found = list_users(_warehouse())
    if as_json:
        print_json([{"name": u.name, "is_admin": u.is_admin, "sites": u.sites} for u in found])
        return
    table = Table("name", "admin", "sites")
    for user in found:
        sites = ", ".join(f"{idsite}:{right}" for idsite, right in sorted(user.sites.items()))
        table.add_row(user.name, "yes" if user.is_admin else "", sites)
    console.print(table)


@user_app.command("grant")
def grant_command(
    name: Annotated[str, typer.Argument(help="Login name.")],
    site: Annotated[int, typer.Option("--site", help="Site id.")],
    rights: Annotated[str, typer.Option(help="view or admin.")] = "view",
) -> None:
    """Give a user view or admin rights on a site.

    Example: tally user grant bob --site 2 --rights admin
    """
    from tally.server.users import grant

    grant(_warehouse(), name, site, rights)
    console.print(f"{name}: {rights} on site {site}")


@user_app.command("revoke")
def revoke_command(
    name: Annotated[str, typer.Argument(help="Login name.")],
    site: Annotated[int, typer.Option("--site", help="Site id.")],
) -> None:
    """Take a user's rights on a site away.

    Example: tally user revoke bob --site 2
    """
    from tally.server.users import revoke

    revoke(_warehouse(), name, site)
    console.print(f"{name}: no rights on site {site}")


@user_app.command("password")
def password_command(name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Set a new password (from the prompt or stdin); the user's open sessions end.

    Example: tally user password ada
    """
    from tally.server.users import set_password

    set_password(_warehouse(), name, read_password())
    console.print(f"password of {name} changed")


@user_app.command("delete")
def delete_command(name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Delete a user and their site rights.

    Example: tally user delete bob
    """
    from tally.server.users import delete_user

    delete_user(_warehouse(), name)
    console.print(f"user {name} deleted")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
