"""Dashboard users: argon2-hashed passwords and per-site rights.

Only the argon2id hash of a password is stored (the users table of
``tally.warehouse.meta.accounts``, which holds every read and write of these tables). An
admin sees and manages everything; any other user sees the subscription and ELT dashboards
and the web analytics of the sites granted to them ('view' or 'admin'). There is no default
user and no default password: ``tally user add NAME --admin`` creates the first one.

Sessions live on the server (the sessions table): the cookie carries a random id and
the table its SHA-256, so logging out, a password change or deleting the user ends them at
once, whoever holds a copy of the cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tally.errors import BadInputError, NotFoundError
from tally.warehouse import Warehouse
from tally.warehouse.meta import accounts
from tally.web.sites import site_exists

RIGHTS = ("view", "admin")
SESSION_SECONDS = 12 * 3600
MIN_PASSWORD_LENGTH = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_hasher = PasswordHasher()  # argon2id with the library's current recommended cost
# Verified against when a name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")

FIRST_ADMIN_HINT = (
    "No dashboard users yet. Create the first admin with: tally user add NAME --admin "
    "(the password is read from the prompt or from stdin)"
)


@dataclass(frozen=True)
class User:
    name: str
    is_admin: bool
    sites: dict[int, str] = field(default_factory=dict)  # idsite -> 'view' | 'admin'
    password_changed_at: dt.datetime | None = None

    def can_view(self, idsite: int) -> bool:
        return self.is_admin or idsite in self.sites

    def can_admin(self, idsite: int) -> bool:
        return self.is_admin or self.sites.get(idsite) == "admin"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise BadInputError(
            "a user name is 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter "
            f"or digit; got {name!r}"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInputError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password:
        raise BadInputError("a password may not start or end with white space")
    return password


def add_user(warehouse: Warehouse, name: str, password: str, *, admin: bool = False) -> User:
    """Create a user; the name must be new."""
    check_name(name)
    check_password(password)
    hashed = _hasher.hash(password)  # before the session: the file is not held meanwhile
    with warehouse.session():  # the check and the insert on one opening of the warehouse
        if accounts.user_exists(warehouse, name):
            raise BadInputError(f"user {name!r} exists already")
        now = _now()
        accounts.insert_user(warehouse, name, hashed, admin, now)
    return User(name, admin, {}, now)


def set_password(warehouse: Warehouse, name: str, password: str) -> None:
    """Replace a user's password (sessions opened before the change stop working)."""
    _require(warehouse, name)
    check_password(password)
    with warehouse.transaction():
        accounts.set_password_hash(warehouse, name, _hasher.hash(password), _now())
        end_sessions_of(warehouse, name)


def grant(warehouse: Warehouse, name: str, idsite: int, rights: str) -> None:
    """Give ``name`` 'view' or 'admin' rights on site ``idsite`` (replacing earlier rights)."""
    with warehouse.session():  # the checks and the change on one opening of the warehouse
        _require(warehouse, name)
        if rights not in RIGHTS:
            raise BadInputError(f"rights are one of {', '.join(RIGHTS)}; got {rights!r}")
        if not site_exists(warehouse, idsite):
            raise NotFoundError(f"no site {idsite} (see: tally site list)")
        with warehouse.transaction():
            accounts.set_site_rights(warehouse, name, idsite, rights)


def revoke(warehouse: Warehouse, name: str, idsite: int) -> None:
    with warehouse.session():
        _require(warehouse, name)
        accounts.set_site_rights(warehouse, name, idsite, None)


def delete_user(warehouse: Warehouse, name: str) -> None:
    with warehouse.session():
        _require(warehouse, name)
        with warehouse.transaction():
            accounts.delete_user(warehouse, name)
            end_sessions_of(warehouse, name)


def get_user(warehouse: Warehouse, name: str) -> User | None:
    with warehouse.session():  # its reads on one opening of the warehouse (session_user)
        row = accounts.user_row(warehouse, name)
        if row is None:
            return None
        return User(row[0], bool(row[1]), accounts.sites_of(warehouse, name), row[2])


def list_users(warehouse: Warehouse) -> list[User]:
    with warehouse.session():
        names = accounts.user_names(warehouse)
        return [user for name in names if (user := get_user(warehouse, name)) is not None]


def has_users(warehouse: Warehouse) -> bool:
    return accounts.has_users(warehouse)


def authenticate(warehouse: Warehouse, name: str, password: str) -> User | None:
    """The user if ``password`` is theirs, else None (same cost for unknown names)."""
    found = accounts.password_hash(warehouse, name)
    stored = found if found is not None else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if found is None:
        return None
    if _hasher.check_needs_rehash(stored):  # the library's cost went up since: store anew
        accounts.set_password_hash(warehouse, name, _hasher.hash(password))
    return get_user(warehouse, name)


def open_session(warehouse: Warehouse, name: str, seconds: float = SESSION_SECONDS) -> str:
    """A new session of ``name``; returns its id (for the cookie; only its hash is kept)."""
    session_id = secrets.token_urlsafe(32)
    now = _now()
    accounts.insert_session(
        warehouse, _digest(session_id), name, now, now + dt.timedelta(seconds=seconds)
    )
    return session_id


def session_user(warehouse: Warehouse, session_id: str) -> User | None:
    """The user of a live session, or None (ended, expired, unknown, user gone)."""
    if not session_id:
        return None
    # every dashboard request asks: one opening of the warehouse for its three reads, not
    # three (on DuckDB each read outside a session opens and closes the file)
    with warehouse.session():
        name = accounts.session_name(warehouse, _digest(session_id), _now())
        return get_user(warehouse, name) if name is not None else None


def end_session(warehouse: Warehouse, session_id: str) -> None:
    """Log one session out; expired sessions are swept on the way."""
    with warehouse.transaction():
        accounts.delete_session(warehouse, _digest(session_id), _now())


def end_sessions_of(warehouse: Warehouse, name: str) -> int:
    """End every session of ``name``; returns how many there were."""
    return accounts.delete_sessions_of(warehouse, name)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _require(warehouse: Warehouse, name: str) -> None:
    if not accounts.user_exists(warehouse, name):
        raise NotFoundError(f"no user {name!r} (see: tally user list)")
