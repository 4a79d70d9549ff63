"""User management for admins: list users, add one, grant or revoke site rights, delete.

Every change goes through ``tally.server.users`` (the functions ``tally user`` uses), every
form carries the session's CSRF token, and only an admin gets past the door: anyone else
gets 403 for the page and for each form. An admin cannot delete their own account or take
back their own admin rights here, so the last admin cannot lock everybody out by a click.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tally.errors import TallyError
from tally.server.ui.access import csrf_valid, warehouse_of
from tally.server.ui.render import page
from tally.server.users import RIGHTS, User, add_user, delete_user, grant, list_users, revoke
from tally.warehouse import Warehouse
from tally.web.sites import site_names

PATH = "/admin/users"
FLASH = "users_flash"


def _site_names(warehouse: Warehouse) -> dict[int, str]:
    return site_names(warehouse)


def _refused(request: Request) -> Response:
    return page(
        request,
        "message.html",
        title="Users",
        area="users",
        message="Only an admin manages users.",
        status_code=403,
    )


async def users_page(request: Request, *, error: str = "", status_code: int = 200) -> Response:
    user: User = request.scope["state"]["user"]
    if not user.is_admin:
        return _refused(request)
    warehouse = warehouse_of(request)

    def compute() -> tuple[list[User], dict[int, str]]:
        return list_users(warehouse), _site_names(warehouse)

    users, sites = await asyncio.to_thread(compute)
    return page(
        request,
        "users.html",
        title="Users",
        area="users",
        users=users,
        sites=sites,
        rights=RIGHTS,
        me=user.name,
        done=request.session.pop(FLASH, ""),
        error=error,
        status_code=status_code,
    )


def _change(form: dict[str, str], me: str) -> tuple[Callable[[Warehouse], None], str]:
    """The change a form asks for, and what to say once it is done."""
    action = form.get("action", "")
    name = form.get("name", "").strip()
    if action == "add":
        admin = form.get("admin") == "on"

        def add(warehouse: Warehouse) -> None:
            add_user(warehouse, name, form.get("password", ""), admin=admin)

        return add, f"Added {name}{' (admin)' if admin else ''}."
    if action in ("grant", "revoke"):
        raw = form.get("idsite", "")
        if not raw.isdigit():
            raise _Invalid(f"site must be a site id; got {raw!r}")
        idsite = int(raw)
        if action == "revoke":
            return lambda warehouse: revoke(
                warehouse, name, idsite
            ), f"{name}: site {idsite} revoked."
        rights = form.get("rights", "")
        return (
            lambda warehouse: grant(warehouse, name, idsite, rights),
            f"{name}: {rights} on site {idsite}.",
        )
    if action == "delete":
        if name == me:
            raise _Invalid("you cannot delete your own account (another admin can)")
        return lambda warehouse: delete_user(warehouse, name), f"Deleted {name}."
    raise _Invalid(f"unknown action {action!r}")


class _Invalid(Exception):
    """A form that asks for something this page does not do."""


async def change_users(request: Request) -> Response:
    user: User = request.scope["state"]["user"]
    if not user.is_admin:
        return _refused(request)
    if not await csrf_valid(request):
        return Response("missing or wrong CSRF token", status_code=403)
    form = {key: str(value) for key, value in (await request.form()).items()}
    try:
        change, done = _change(form, user.name)
        await asyncio.to_thread(change, warehouse_of(request))
    except (_Invalid, TallyError) as error:
        return await users_page(request, error=str(error), status_code=400)
    request.session[FLASH] = done
    return RedirectResponse(PATH, status_code=303)


def routes() -> list[Route]:
    return [
        Route(PATH, users_page, methods=["GET"]),
        Route(PATH, change_users, methods=["POST"]),
    ]
